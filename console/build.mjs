// Bundles the console page into console/dist/ with the pinned esbuild: no runtime CDN, so the
// page works offline and under a strict content-security policy (no inline script or style).
// Run by scripts/bootstrap.sh; `node console/build.mjs` rebuilds by hand.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020"],
  outdir: out,
  logLevel: "warning",
});
for (const name of ["index.html", "favicon.svg"]) copyFileSync(join(here, "src", name), join(out, name));
