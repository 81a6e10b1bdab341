/**
 * The daemon's local status endpoint (`status.listen`: loopback HOST:PORT or a unix socket) and its client,
 * `vigil-agent status`.
 */
export {
  DaemonStatusSchema,
  CameraStatusSchema,
  OutboxStatusSchema,
  UplinkStatusSchema,
  type DaemonStatus,
} from './schema.js';
export { startStatusServer, isLoopbackHost, describeListen, type StatusServer } from './server.js';
export { fetchDaemonStatus } from './client.js';
export { formatStatus } from './format.js';
