/** Zones: which named areas of the frame an object entered and is in (bottom-centre, inertia, loitering time). */
export {
  ZonePresence,
  ZoneSet,
  type ZoneChange,
  type ZoneDefinition,
  type ZoneObservation,
} from './zones.js';
