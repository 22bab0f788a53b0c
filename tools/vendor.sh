#!/usr/bin/env bash
# Copies the portal's front-end libraries from node_modules (installed by
# `npm ci` from the committed package-lock.json) into html/vendor/, which
# nginx serves as /vendor/.  html/vendor/ is not committed.
#
#   tools/vendor.sh          npm ci first when node_modules is missing or
#                            older than the lock, then copy
#
# Nothing is fetched at run time: the pages load /vendor/* from the portal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

log() { printf '[vendor] %s\n' "$*" >&2; }

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
   || [ package.json -nt "$stamp" ] || [ ! -d node_modules/node-forge ] \
   || [ ! -d node_modules/qrcode ]; then
  command -v npm >/dev/null || { log "npm is missing (apt-get install npm)"; exit 1; }
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# FROM (under node_modules/)      TO (under html/vendor/)
files=(
  "node-forge/dist/forge.min.js   forge.min.js"
  "node-forge/LICENSE             node-forge.LICENSE.txt"
  "qrcode/license                 qrcode.LICENSE.txt"
  "dijkstrajs/LICENSE.md          dijkstrajs.LICENSE.txt"
)

mkdir -p html/vendor
for f in "${files[@]}"; do
  read -r from to <<<"$f"
  src=node_modules/$from
  [ -f "$src" ] || { log "missing $src"; exit 1; }
  tmp=html/vendor/.$to.tmp
  cp "$src" "$tmp"
  # forge.min.js names a source map that is not shipped: drop the comment
  # (no 404 when someone opens the developer tools).
  case $to in *.js) sed -i 's|^//# sourceMappingURL=.*$||' "$tmp" ;; esac
  if cmp -s "$tmp" "html/vendor/$to"; then rm -f "$tmp"
  else mv -f "$tmp" "html/vendor/$to"; fi
done
# qrcode ships CommonJS only (lib/browser.js and what it requires): wrap
# each module it reaches in a function and expose window.QRCode (toCanvas,
# toString, create), as a bundler would, without one.
tmp=html/vendor/.qrcode.js.tmp
node - "$tmp" <<'JS'
const fs = require("fs"), path = require("path");
const { createRequire } = require("module");
const entry = require.resolve("qrcode/lib/browser.js", { paths: [process.cwd()] });
const mods = new Map();
function add(file) {
  if (mods.has(file)) return mods.get(file).id;
  const rec = { id: mods.size, src: "", deps: {} };
  mods.set(file, rec);
  const src = fs.readFileSync(file, "utf8");
  const req = createRequire(file);
  rec.src = src.replace(/^\/\/# sourceMappingURL=.*$/mg, "");
  for (const m of src.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    rec.deps[m[1]] = add(req.resolve(m[1]));
  }
  return rec.id;
}
add(entry);
let out = "/* qrcode (MIT) and dijkstrajs (MIT) from node_modules, wrapped by\n" +
  " * tools/vendor.sh: window.QRCode = require(\"qrcode/lib/browser.js\"). */\n" +
  "(function () {\nconst defs = [\n";
for (const [file, rec] of mods) {
  out += `/* ${path.relative(process.cwd(), file)} */\n[${JSON.stringify(rec.deps)}, ` +
    "function (module, exports, require) {\n" + rec.src + "\n}],\n";
}
out += "];\nconst cache = [];\nfunction load(id) {\n" +
  "  if (cache[id]) return cache[id].exports;\n" +
  "  const module = { exports: {} };\n  cache[id] = module;\n" +
  "  const [deps, fn] = defs[id];\n" +
  "  fn.call(module.exports, module, module.exports, (n) => {\n" +
  "    if (!(n in deps)) throw new Error(\"qrcode bundle: \" + n);\n" +
  "    return load(deps[n]);\n  });\n  return module.exports;\n}\n" +
  "window.QRCode = load(0);\n})();\n";
fs.writeFileSync(process.argv[2], out);
JS
if cmp -s "$tmp" html/vendor/qrcode.js; then rm -f "$tmp"
else mv -f "$tmp" html/vendor/qrcode.js; fi
log "html/vendor: $(cd html/vendor && ls | tr '\n' ' ')"
