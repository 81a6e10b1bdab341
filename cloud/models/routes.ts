import { Type, type Static } from '@sinclair/typebox';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MODEL_FORMATS } from '../../firmware-protocol/messages/command.js';
import { DEVICE_ID_PATTERN, MODEL_ID_PATTERN, SHA256_HEX_PATTERN } from '../../firmware-protocol/patterns.js';
import { authOf, requireToken } from '../auth/request.js';
import { VigilError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ModelRegistry } from './registry.js';
import type { ModelRecord } from './repository.js';
import type { ModelRollouts, RolloutBoxStatus } from './rollout.js';

/**
 * The model registry's HTTP API:
 *
 *   POST /v1/models                      admin  {name, format, labels?, size, sha256}
 *                                               → 201 {id, upload_url, expires_at}
 *   PUT  /v1/models/{id}/upload?exp&sig  none   the bytes (application/octet-stream), checked for size and SHA-256
 *   POST /v1/models/{id}/finalize        admin  checks the bytes and loads them once → the model, state ready
 *   GET  /v1/models                      token  the tenant's models, newest first
 *   GET  /v1/models/{id}                 token  one model
 *   GET  /v1/models/{id}/file?exp&sig    none   a ready model's bytes (the signed URL of a model_update command)
 *   POST /v1/models/{id}/rollout         admin  {devices: [...]} | {all: true}, percent? → 202 the boxes chosen
 *   GET  /v1/models/{id}/rollout         token  the rollouts and the status of each box
 *
 * The two signed routes take no token: the URL is the credential (./links.ts). They live in a plugin scope of their
 * own whose only body parser hands the request stream on, so an upload is streamed into the blob store, never
 * buffered.
 */
const ModelParams = Type.Object({ id: Type.String({ pattern: MODEL_ID_PATTERN, description: 'Model id (mdl_…).' }) });
type ModelParams = Static<typeof ModelParams>;

const SignedQuery = Type.Object({
  exp: Type.Optional(Type.String({ maxLength: 16 })),
  sig: Type.Optional(Type.String({ maxLength: 64 })),
});
type SignedQuery = Static<typeof SignedQuery>;

export const NewModelBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Human name of the model.' }),
    format: Type.Union(
      MODEL_FORMATS.map((f) => Type.Literal(f)),
      { description: 'Output layout: yolox, yolo or ssd.' },
    ),
    labels: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 1000,
        description: 'Class names by output index; absent: the box reads them from the model or uses COCO.',
      }),
    ),
    size: Type.Integer({ minimum: 1, description: 'Exact size of the ONNX file in bytes.' }),
    sha256: Type.String({ pattern: SHA256_HEX_PATTERN, description: 'Lowercase hex SHA-256 of the file.' }),
  },
  { additionalProperties: false },
);
type NewModelBody = Static<typeof NewModelBody>;

export const RolloutBody = Type.Object(
  {
    devices: Type.Optional(
      Type.Array(Type.String({ pattern: DEVICE_ID_PATTERN }), {
        minItems: 1,
        maxItems: 10_000,
        description: 'The boxes to update.',
      }),
    ),
    all: Type.Optional(Type.Literal(true, { description: "Every active box of the caller's tenant." })),
    percent: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        description: 'Update only this share of the target (a stable choice per model and box). Default 100.',
      }),
    ),
  },
  { additionalProperties: false },
);
type RolloutBody = Static<typeof RolloutBody>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function modelJson(m: ModelRecord): Record<string, unknown> {
  return {
    id: m.id,
    name: m.name,
    format: m.format,
    labels: m.labels,
    size: m.size,
    sha256: m.sha256,
    state: m.state,
    error: m.errorCode === null ? null : { code: m.errorCode, message: m.errorMessage },
    signature: m.signature,
    created_at: new Date(m.createdAt).toISOString(),
    uploaded_at: iso(m.uploadedAt),
    finalized_at: iso(m.finalizedAt),
  };
}

export interface ModelRouteDeps {
  store: Store;
  registry: ModelRegistry;
  rollouts: ModelRollouts;
  /** Base URL clients reach the collector at (config server.public_url, else the bound address). */
  baseUrl: () => string;
}

export async function registerModelRoutes(app: FastifyInstance, deps: ModelRouteDeps): Promise<void> {
  const admin = requireToken(deps.store, 'admin');
  const reader = requireToken(deps.store, 'reader');
  const { registry, rollouts } = deps;

  app.post<{ Body: NewModelBody }>(
    '/v1/models',
    { schema: { body: NewModelBody }, onRequest: admin },
    async (req, reply) => {
      const auth = authOf(req);
      const { model, upload } = await registry.create(auth.tenantId, req.body, auth.tokenId);
      const base = deps.baseUrl().replace(/\/+$/, '');
      return reply.status(201).send({
        id: model.id,
        upload_url: `${base}${upload.path}`,
        expires_at: new Date(upload.expiresAt).toISOString(),
        model: modelJson(model),
      });
    },
  );

  app.get('/v1/models', { onRequest: reader }, async (req) => ({
    models: (await registry.list(authOf(req).tenantId)).map(modelJson),
  }));

  const one = { schema: { params: ModelParams }, onRequest: reader };
  app.get<{ Params: ModelParams }>('/v1/models/:id', one, async (req) =>
    modelJson(await registry.require(authOf(req).tenantId, req.params.id)),
  );

  app.post<{ Params: ModelParams }>(
    '/v1/models/:id/finalize',
    { schema: { params: ModelParams }, onRequest: admin },
    async (req) => modelJson(await registry.finalize(authOf(req).tenantId, req.params.id)),
  );

  app.post<{ Params: ModelParams; Body: RolloutBody }>(
    '/v1/models/:id/rollout',
    { schema: { params: ModelParams, body: RolloutBody }, onRequest: admin },
    async (req, reply) => {
      const body = req.body;
      if ((body.all === true) === (body.devices !== undefined))
        throw new VigilError('invalid_request', 'a rollout names its boxes: give either devices or all: true');
      const auth = authOf(req);
      const { rollout, boxes } = await rollouts.rollout(auth.tenantId, req.params.id, body, auth.tokenId);
      return reply.status(202).send({
        id: rollout.id,
        model_id: rollout.modelId,
        target: rollout.target,
        created_at: new Date(rollout.createdAt).toISOString(),
        devices: boxes,
      });
    },
  );

  app.get<{ Params: ModelParams }>('/v1/models/:id/rollout', one, async (req) => {
    const { model, rollouts: list, boxes } = await rollouts.status(authOf(req).tenantId, req.params.id);
    return {
      model_id: model.id,
      sha256: model.sha256,
      rollouts: list.map((r) => ({ id: r.id, target: r.target, created_at: new Date(r.createdAt).toISOString() })),
      devices: boxes,
      counts: countStates(boxes),
    };
  });

  // The signed routes: no token, the URL is the credential; bodies stay streams.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.put<{ Params: ModelParams; Querystring: SignedQuery }>(
      '/v1/models/:id/upload',
      { schema: { params: ModelParams, querystring: SignedQuery } },
      async (req) => {
        const length = req.headers['content-length'];
        if (typeof (req.body as Readable | undefined)?.pipe !== 'function')
          throw new VigilError('invalid_request', 'PUT the model bytes as the request body');
        const model = await registry.upload(
          req.params.id,
          req.query,
          req.body as Readable,
          length === undefined ? undefined : Number(length),
        );
        return { id: model.id, state: model.state, size: model.size, sha256: model.sha256 };
      },
    );

    scope.get<{ Params: ModelParams; Querystring: SignedQuery }>(
      '/v1/models/:id/file',
      { schema: { params: ModelParams, querystring: SignedQuery } },
      async (req, reply: FastifyReply) => {
        const { model, stream, size } = await registry.download(req.params.id, req.query);
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(size))
          .header('cache-control', 'private, no-store')
          .header('x-content-sha256', model.sha256)
          .send(stream);
      },
    );
  });
}

function countStates(boxes: RolloutBoxStatus[]): Record<RolloutBoxStatus['state'], number> {
  const counts = { pending: 0, updating: 0, active: 0, failed: 0, expired: 0 };
  for (const b of boxes) counts[b.state]++;
  return counts;
}
