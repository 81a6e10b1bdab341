import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { parseDuration, type Clock } from '../../shared/clock/index.js';
import { ulid } from '../../shared/ids/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { ModelFormat } from '../../firmware-protocol/messages/command.js';
import { checkBlobKey, type BlobStore } from '../blob/blob-store.js';
import { isVigilError, VigilError } from '../errors.js';
import type { ModelsConfig } from './config.js';
import type { ModelLinks, SignedModelLink } from './links.js';
import { checkOnnxModel } from './onnx-check.js';
import type { ModelRecord, ModelRepository } from './repository.js';

/**
 * The model registry's two-phase upload: `create` records what is announced (name, format, labels, size, sha256)
 * and hands out a presigned upload URL; `upload` (the PUT to that URL, no token) streams the bytes into the blob
 * store, refusing any that do not have the announced size and SHA-256; `finalize` reads them back, checks size and
 * hash again and loads the file once with onnxruntime (./onnx-check.ts): `ready`, or `invalid` with the reason.
 * `download` serves a ready model's bytes to the signed URL of a model_update command.
 */
export interface NewModel {
  name: string;
  format: ModelFormat;
  labels?: string[] | undefined;
  size: number;
  sha256: string;
}

export interface ModelRegistryOptions {
  repo: ModelRepository;
  blobs: BlobStore;
  links: ModelLinks;
  config: ModelsConfig;
  clock: Clock;
  log: Logger;
}

export class ModelRegistry {
  private readonly uploadTtlMs: number;
  private readonly downloadTtlMs: number;

  constructor(private readonly o: ModelRegistryOptions) {
    this.uploadTtlMs = parseDuration(o.config.upload_url_ttl);
    this.downloadTtlMs = parseDuration(o.config.download_url_ttl);
  }

  /** Records a new model (pending_upload) and signs its upload URL. */
  async create(
    tenantId: string,
    input: NewModel,
    createdBy: string | null,
  ): Promise<{ model: ModelRecord; upload: SignedModelLink }> {
    if (input.size > this.o.config.max_size)
      throw new VigilError(
        'model_too_large',
        `the model is ${input.size} bytes; models.max_size is ${this.o.config.max_size}`,
        { details: { size: input.size, max_size: this.o.config.max_size } },
      );
    const now = this.o.clock.now();
    const model: ModelRecord = {
      id: `mdl_${ulid(now)}`,
      tenantId,
      name: input.name,
      format: input.format,
      labels: input.labels ?? null,
      size: input.size,
      sha256: input.sha256.toLowerCase(),
      state: 'pending_upload',
      blobKey: null,
      signature: null,
      errorCode: null,
      errorMessage: null,
      createdBy,
      createdAt: now,
      uploadedAt: null,
      finalizedAt: null,
    };
    await this.o.repo.insertModel(model);
    this.o.log.info({ model_id: model.id, tenant: tenantId, name: model.name, size: model.size }, 'model created');
    return { model, upload: this.o.links.sign('upload', model.id, now, this.uploadTtlMs) };
  }

  get(tenantId: string, id: string): Promise<ModelRecord | undefined> {
    return this.o.repo.getModel(id, tenantId);
  }

  list(tenantId: string): Promise<ModelRecord[]> {
    return this.o.repo.listModels(tenantId);
  }

  /** A tenant's model; throws model_unknown. */
  async require(tenantId: string, id: string): Promise<ModelRecord> {
    const model = await this.o.repo.getModel(id, tenantId);
    if (!model) throw new VigilError('model_unknown', `model ${id} not found`, { details: { id } });
    return model;
  }

  /**
   * The PUT of a presigned upload URL: checks the signature (constant time) and expiry, then streams `body` into the
   * blob store with the announced size and SHA-256 (nothing is kept when they differ). `contentLength` (the request's
   * header) is checked against the size before a byte is read. Re-uploading replaces the bytes until finalize.
   */
  async upload(
    id: string,
    link: { exp?: string | undefined; sig?: string | undefined },
    body: Readable,
    contentLength: number | undefined,
  ): Promise<ModelRecord> {
    this.o.links.check('upload', id, link.exp, link.sig, this.o.clock.now());
    const model = await this.o.repo.getModel(id);
    if (!model) throw new VigilError('model_unknown', `model ${id} not found`, { details: { id } });
    if (model.state === 'ready')
      throw new VigilError('model_already_final', `model ${id} is finalized; create a new model for other bytes`);
    if (contentLength !== undefined && contentLength !== model.size)
      throw new VigilError(
        'upload_size_mismatch',
        `the upload is ${contentLength} bytes (Content-Length); model ${id} was announced with ${model.size}`,
        { details: { expected: model.size, got: contentLength } },
      );
    const key = checkBlobKey(`${model.tenantId}/models/${model.id}/model-${model.sha256.slice(0, 16)}.onnx`);
    try {
      await this.o.blobs.put(key, body, {
        size: model.size,
        sha256: model.sha256,
        contentType: 'application/octet-stream',
      });
    } catch (err) {
      throw translateBlobError(err, model);
    }
    if (!(await this.o.repo.markUploaded(id, key, this.o.clock.now())))
      throw new VigilError('model_already_final', `model ${id} was finalized during the upload`);
    this.o.log.info({ model_id: id, size: model.size }, 'model uploaded');
    return (await this.o.repo.getModel(id))!;
  }

  /**
   * Checks the uploaded bytes (size, SHA-256) and loads them once with onnxruntime; the model is `ready` after, or
   * `invalid` with the reason (and the error is thrown). A ready model is returned as it is.
   */
  async finalize(tenantId: string, id: string): Promise<ModelRecord> {
    const model = await this.require(tenantId, id);
    if (model.state === 'ready') return model;
    if (model.blobKey === null)
      throw new VigilError('model_not_uploaded', `model ${id} has no bytes yet: PUT them to its upload URL first`);
    const now = this.o.clock.now();
    try {
      const bytes = await this.readChecked(model, model.blobKey);
      const signature = await checkOnnxModel(bytes, model.format, model.labels ?? undefined);
      await this.o.repo.markFinalized(id, { state: 'ready', signature }, now);
      this.o.log.info({ model_id: id, format: model.format, signature }, 'model ready');
    } catch (err) {
      if (isVigilError(err) && err.code.startsWith('model_')) {
        await this.o.repo.markFinalized(id, { state: 'invalid', code: err.code, message: err.message }, now);
        this.o.log.warn({ model_id: id, code: err.code, reason: err.message }, 'model refused at finalize');
      }
      throw err;
    }
    return (await this.o.repo.getModel(id))!;
  }

  /** The signed download path of a ready model, for a model_update command. */
  downloadLink(model: ModelRecord): SignedModelLink {
    return this.o.links.sign('download', model.id, this.o.clock.now(), this.downloadTtlMs);
  }

  /** The bytes behind a signed download URL (a ready model only). */
  async download(
    id: string,
    link: { exp?: string | undefined; sig?: string | undefined },
  ): Promise<{ model: ModelRecord; stream: Readable; size: number }> {
    this.o.links.check('download', id, link.exp, link.sig, this.o.clock.now());
    const model = await this.o.repo.getModel(id);
    if (model?.state !== 'ready' || model.blobKey === null)
      throw new VigilError('model_unknown', `model ${id} is not a ready model`, { details: { id } });
    const blob = await this.o.blobs.get(model.blobKey);
    if (!blob) throw new VigilError('model_unknown', `the bytes of model ${id} are missing from the blob store`);
    return { model, stream: blob.stream, size: blob.size };
  }

  private async readChecked(model: ModelRecord, key: string): Promise<Buffer> {
    const blob = await this.o.blobs.get(key);
    if (!blob) throw new VigilError('model_not_uploaded', `the bytes of model ${model.id} are missing; upload again`);
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of blob.stream) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > model.size) {
        blob.stream.destroy();
        break;
      }
      hash.update(buf);
      chunks.push(buf);
    }
    if (size !== model.size)
      throw new VigilError(
        'upload_size_mismatch',
        `the stored bytes of model ${model.id} are ${size > model.size ? 'more than ' : ''}${size}; ` +
          `${model.size} were announced`,
        { details: { expected: model.size, got: size } },
      );
    if (hash.digest('hex') !== model.sha256)
      throw new VigilError('upload_hash_mismatch', `the stored bytes of model ${model.id} do not have its SHA-256`);
    return Buffer.concat(chunks, size);
  }
}

function translateBlobError(err: unknown, model: ModelRecord): unknown {
  if (isVigilError(err, 'blob_size_mismatch'))
    return new VigilError(
      'upload_size_mismatch',
      `the upload does not have the announced size of ${model.size} bytes: ${err.message}`,
      { details: err.details },
    );
  if (isVigilError(err, 'blob_hash_mismatch'))
    return new VigilError(
      'upload_hash_mismatch',
      `the uploaded bytes do not have the announced SHA-256 ${model.sha256} of model ${model.id}`,
      { details: { expected: model.sha256 } },
    );
  return err;
}
