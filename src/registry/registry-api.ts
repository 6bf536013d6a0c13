/**
 * The registry side of the library as index.ts hands it out on first use (`registryApi()`):
 * the client and the credential files bring node:http, node:https and node:crypto, which every
 * command's start would pay for otherwise.
 */
export { RegistryClient } from './registry-client.js';
export { nodeHttpTransport } from './http-transport.js';
export { authFilePaths, findCredentials, saveCredentials, removeCredentials, readAuthFile } from './credentials.js';
export { loginToRegistry, logoutFromRegistry } from './registry-login.js';
