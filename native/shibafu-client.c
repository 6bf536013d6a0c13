/*
 * shibafu's front end (bin/shibafu runs it when the build made it): hands the command line to
 * the store's resident service (`shibafu service start`) when one listens, else runs the Node CLI.
 *
 * Why: starting Node costs 60-80 ms on the machines shibafu is measured on, more than a whole
 * `runc run`; a service that is already warm does a command's own work in a few milliseconds.
 * This program stays a trampoline: it passes its descriptors 0, 1, 2 (SCM_RIGHTS), its working
 * directory, arguments and environment, forwards the signals it receives, and exits with the
 * status the service sends. Every decision (which root, whether to serve, what the command
 * does) is the service's, in TypeScript; the service answers "fallback" for what it does not
 * serve, and this program then runs the Node CLI, as it does when no service listens.
 *
 * Protocol (docs/service.md): "SHB1", a u32 body length (host order), then NUL-terminated
 * strings: "command", cwd, argc, argv..., envc, env... ; afterwards one byte per signal
 * received. The service answers one line: "exit N" or "fallback".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_ROOT "/var/lib/shibafu"
#define SOCKET_NAME "/service.sock"

static int signal_pipe[2] = {-1, -1};
static int tracing = 0;

/* SHIBAFU_TRACE_SERVICE=1: one line on stderr saying who ran the command (tests read it). */
static void trace(const char *what) {
  if (tracing) fprintf(stderr, "service: %s\n", what);
}
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/* Runs the Node CLI (bin/shibafu.cjs beside this build's dist/) with the same arguments. */
static void run_node(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  const char *suffix = "/dist/native/shibafu";
  size_t suffix_len = strlen(suffix);
  if (n < 0 || (size_t)n <= suffix_len || memcmp(self + n - suffix_len, suffix, suffix_len) != 0) {
    fprintf(stderr, "error[INTERNAL]: Cannot find the shibafu CLI: this program is not at <package>/dist/native/shibafu\n");
    exit(125);
  }
  self[n - suffix_len] = '\0';
  char script[PATH_MAX + 32];
  snprintf(script, sizeof script, "%s/bin/shibafu.cjs", self);
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) exit(125);
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp("node", args);
  fprintf(stderr, "error[INTERNAL]: Cannot run node: %s\nhint: shibafu needs Node.js 20 or later in PATH.\n", strerror(errno));
  exit(125);
}

/* The store root as the CLI finds it: --root (first one), else $SHIBAFU_ROOT, else the default.
 * A guess only picks the socket; the service checks the root it parses itself. */
static const char *guess_root(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) return argv[i + 1];
    if (strncmp(argv[i], "--root=", 7) == 0) return argv[i] + 7;
  }
  const char *env = getenv("SHIBAFU_ROOT");
  return env != NULL && env[0] != '\0' ? env : DEFAULT_ROOT;
}

static int connect_service(const char *root) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(root) + strlen(SOCKET_NAME) >= sizeof addr.sun_path) return -1;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s%s", root, SOCKET_NAME);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Growable byte buffer for the request. */
struct buf { char *data; size_t len, cap; };

static void put(struct buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap == 0 ? 4096 : b->cap;
    while (cap < b->len + n) cap *= 2;
    b->data = realloc(b->data, cap);
    if (b->data == NULL) exit(125);
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void put_str(struct buf *b, const char *s) { put(b, s, strlen(s) + 1); }

static void put_int(struct buf *b, long v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%ld", v);
  put_str(b, tmp);
}

/* Sends the whole request, descriptors 0-2 attached to its first bytes. */
static int send_request(int sock, int argc, char **argv) {
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) return -1;
  struct buf body = {0};
  put(&body, "SHB1\0\0\0\0", 8);
  put_str(&body, "command");
  put_str(&body, cwd);
  put_int(&body, argc - 1);
  for (int i = 1; i < argc; i++) put_str(&body, argv[i]);
  long envc = 0;
  for (char **e = environ; *e != NULL; e++) envc++;
  put_int(&body, envc);
  for (char **e = environ; *e != NULL; e++) put_str(&body, *e);
  uint32_t len = (uint32_t)(body.len - 8);
  memcpy(body.data + 4, &len, 4);

  int fds[3] = {0, 1, 2};
  char control[CMSG_SPACE(sizeof fds)];
  memset(control, 0, sizeof control);
  struct iovec iov = {.iov_base = body.data, .iov_len = body.len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t sent;
  do sent = sendmsg(sock, &msg, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
  if (sent < 0) return -1;
  size_t off = (size_t)sent;
  while (off < body.len) {
    ssize_t n = send(sock, body.data + off, body.len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    off += (size_t)n;
  }
  free(body.data);
  return 0;
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  (void)!write(signal_pipe[1], &b, 1);
  errno = saved;
}

static void trap_signals(void) {
  if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) exit(125);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
}

static void untrap_signals(void) {
  struct sigaction sa = {.sa_handler = SIG_DFL};
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
}

/* Forwards signals until the service's one-line answer; returns the exit status, or -1 for "fallback". */
static int await_answer(int sock) {
  char line[64];
  size_t have = 0;
  for (;;) {
    struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = signal_pipe[0], .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 125;
    }
    if (p[1].revents & POLLIN) {
      unsigned char sigs[16];
      ssize_t n = read(signal_pipe[0], sigs, sizeof sigs);
      if (n > 0) (void)!send(sock, sigs, (size_t)n, MSG_NOSIGNAL);
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(sock, line + have, sizeof line - 1 - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fprintf(stderr, "error[SERVICE_LOST]: The shibafu service ended before the command did\nhint: See `shibafu service status`; run the command again (without a service the CLI runs in its own process).\n");
        return 125;
      }
      have += (size_t)n;
      line[have] = '\0';
      char *nl = strchr(line, '\n');
      if (nl == NULL) {
        if (have == sizeof line - 1) return 125;
        continue;
      }
      *nl = '\0';
      if (strcmp(line, "fallback") == 0) return -1;
      if (strncmp(line, "exit ", 5) == 0) return atoi(line + 5) & 0xff;
      return 125;
    }
  }
}

/* A closed descriptor 0-2 cannot be passed: it gets /dev/null (the Node CLI's streams would too). */
static void fill_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) {
      dup2(null, fd);
      close(null);
    }
  }
}

int main(int argc, char **argv) {
  const char *t = getenv("SHIBAFU_TRACE_SERVICE");
  tracing = t != NULL && strcmp(t, "1") == 0;
  const char *off = getenv("SHIBAFU_SERVICE");
  if (off != NULL && strcmp(off, "off") == 0) {
    trace("off");
    run_node(argc, argv);
  }
  /* Before the socket exists: a closed fd 0-2 would otherwise become the socket, passed as stdio. */
  fill_std_fds();
  int sock = connect_service(guess_root(argc, argv));
  if (sock < 0) {
    trace("none");
    run_node(argc, argv);
  }
  trap_signals();
  if (send_request(sock, argc, argv) != 0) {
    close(sock);
    untrap_signals();
    trace("none");
    run_node(argc, argv);
  }
  int status = await_answer(sock);
  close(sock);
  if (status < 0) {
    untrap_signals();
    trace("fallback");
    run_node(argc, argv);
  }
  trace("served");
  return status;
}
