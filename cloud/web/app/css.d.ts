/** Stylesheets imported for their side effect; esbuild bundles them beside the JS. */
declare module '*.css';
