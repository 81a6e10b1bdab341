/**
 * The box's identity: the credentials file pairing writes and the daemon, `status` and `doctor` read, and the
 * pairing client that obtains it.
 *
 *   const { identity, stored } = loadCredentials(config.data_dir, { file: config.device.credentials });
 */
export {
  StoredCredentialsSchema,
  credentialsPath,
  identityOf,
  writeCredentials,
  backupCredentials,
  backupName,
  loadCredentials,
  removeCredentials,
  storeBrokerLogin,
  type StoredCredentials,
  type LoadedCredentials,
  type LoadCredentialsOptions,
  type InsecureModePolicy,
} from './store.js';
export {
  requestPairing,
  verifyCredentials,
  storedFromResponse,
  pairingRequest,
  normaliseCloudUrl,
  hardwareDescription,
  type PairingClientOptions,
  type VerifyOptions,
  type Verification,
} from './pair.js';
export { CredentialsBrokerLogin, requestBrokerLogin, type BrokerLoginRequestOptions } from './broker-login.js';
