import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, manifestMediaType, OCI_INDEX, OCI_MANIFEST } from './manifest-media-types.js';

const j = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test('the Content-Type when it names a type (parameters dropped)', () => {
  assert.equal(manifestMediaType(`${DOCKER_MANIFEST}; charset=utf-8`, j({})), DOCKER_MANIFEST);
  assert.equal(manifestMediaType('Application/VND.OCI.image.index.v1+json', j({})), OCI_INDEX);
});

test('a generic or missing Content-Type: the document\'s mediaType, else its shape', () => {
  assert.equal(manifestMediaType('application/json', j({ mediaType: DOCKER_MANIFEST })), DOCKER_MANIFEST);
  assert.equal(manifestMediaType(undefined, j({ schemaVersion: 2, manifests: [] })), OCI_INDEX);
  assert.equal(manifestMediaType('text/plain', j({ schemaVersion: 2, config: {}, layers: [] })), OCI_MANIFEST);
  assert.equal(manifestMediaType('', j({ schemaVersion: 1, signatures: [] })), DOCKER_SCHEMA1_SIGNED);
  assert.equal(manifestMediaType('application/json', Buffer.from('not json')), 'application/json');
  assert.equal(manifestMediaType(undefined, j({ other: 1 })), 'application/octet-stream');
});
