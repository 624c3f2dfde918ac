// Prints name, version and licence text of every runtime package the vendor bundle holds.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const out = [];
for (const [path, meta] of Object.entries(lock.packages)) {
  if (!path || meta.dev) continue;
  const dir = path;
  const lic = existsSync(dir) ? readdirSync(dir).find((f) => /^licen[sc]e/i.test(f)) : undefined;
  out.push(`=== ${path.replace(/^node_modules\//, "")} ${meta.version} (${meta.license ?? "?"})`);
  out.push(lic ? readFileSync(join(dir, lic), "utf8").trim() : "(no licence file in the package)");
  out.push("");
}
console.log(out.join("\n"));
