#!/usr/bin/env bash
# Install what the VS Code end-to-end test needs, offline from the registries:
# Debian chromium + build deps, code-server 4.99.4 (with its postinstall done by hand),
# playwright-core. Everything npm lands in editors/vscode/.e2e/. Idempotent; fails loudly.
# Recipe: docs/vscode-e2e.md (code-server's postinstall fetches from GitHub/nodejs.org).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="${SEED_CODER_E2E_DIR:-$HERE/.e2e}"
CS_VERSION="4.99.4"
log() { printf '[setup-e2e] %s\n' "$*" >&2; }
die() { printf '[setup-e2e] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

command -v node >/dev/null || die "node is required (Node 20; code-server $CS_VERSION does not run on Node 22+)"
command -v npm >/dev/null || die "npm is required"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" = 20 ] || log "warning: Node $NODE_MAJOR found; code-server $CS_VERSION is built for Node 20"

# 1. Debian packages.
APT_PKGS=(libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep chromium build-essential python3)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after apt install"
command -v rg >/dev/null || die "ripgrep (rg) missing after apt install"

mkdir -p "$E2E"
cd "$E2E"
[ -f package.json ] || echo '{ "name": "seed-coder-e2e", "private": true }' > package.json

CS="$E2E/node_modules/code-server"
VS="$CS/lib/vscode"
STAMP="$E2E/.code-server-$CS_VERSION.done"

if [ ! -f "$STAMP" ]; then
  # 2. code-server without its (online) postinstall.
  if [ "$(node -p "try{require('$CS/package.json').version}catch(e){''}")" != "$CS_VERSION" ]; then
    log "npm install code-server@$CS_VERSION (--ignore-scripts)"
    npm install --no-audit --no-fund --ignore-scripts "code-server@$CS_VERSION"
  fi
  # 3. The VS Code server's own dependencies, with Debian's ripgrep instead of a GitHub download.
  log "installing lib/vscode production dependencies"
  (cd "$VS" && npm install --no-audit --no-fund --omit=dev --ignore-scripts)
  RG_DIR="$VS/node_modules/@vscode/ripgrep"
  [ -d "$RG_DIR" ] || die "$RG_DIR missing"
  mkdir -p "$RG_DIR/bin"
  cp -f "$(command -v rg)" "$RG_DIR/bin/rg"
  node -e '
    const f = process.argv[1], p = require(f);
    if (p.scripts) delete p.scripts.postinstall;
    require("fs").writeFileSync(f, JSON.stringify(p, null, 2));
  ' "$RG_DIR/package.json"
  log "npm rebuild (native modules of lib/vscode, against /usr headers)"
  (cd "$VS" && npm_config_yes=true npm_config_nodedir=/usr npm rebuild)
  ln -sfn node_modules "$VS/node_modules.asar"
  log "installing built-in extensions' dependencies"
  (cd "$VS/extensions" && npm install --no-audit --no-fund --omit=dev --ignore-scripts)
  # 4. code-server's own native module.
  log "building argon2 from source"
  (cd "$E2E/node_modules/argon2" && ../.bin/node-pre-gyp rebuild --build-from-source --nodedir=/usr)
  touch "$STAMP"
else
  log "code-server $CS_VERSION already set up"
fi

# 5. playwright-core drives Debian's chromium (never `playwright install`).
if [ ! -d node_modules/playwright-core ]; then
  log "npm install playwright-core"
  npm install --no-audit --no-fund playwright-core
else
  log "playwright-core present"
fi

# Smoke check.
node "$CS/out/node/entry.js" --version >/dev/null || die "code-server does not start"
log "ok: $(node "$CS/out/node/entry.js" --version | head -1) in $E2E"
