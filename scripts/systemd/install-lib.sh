# shellcheck shell=bash
# Shared by scripts/{install,uninstall}-{agent,cloud}.sh. The calling script sets:
#   COMPONENT     agent | cloud
#   SERVICE       vigil-agent | vigil-cloud
#   DEFAULT_USER  service user
#   DATA_REL      data directory (absolute, before --prefix)
#   CONFIG_REL    config file (absolute, before --prefix)
#   CONFIG_TEMPLATE, UNIT_TEMPLATE   file names in scripts/systemd/
#   NEEDS_VIDEO   yes | no (add the user to the video group)
#
# Layout (each path under --prefix DIR when given):
#   /opt/vigil                      the app: a copy of the built package (default) or, with --link, a symlink to it
#   /usr/local/bin/$SERVICE         wrapper running the app's bin/$SERVICE.js with the installed node
#   /etc/vigil/{agent,cloud}.yaml   config, from a commented template; never overwritten
#   /var/lib/{vigil,vigil-cloud}    data directory, owned by the service user, 0700
#   /etc/systemd/system/$SERVICE.service
#   /etc/vigil/.install-$COMPONENT  what this install created (read by uninstall)

set -euo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(cd "$LIB_DIR/../.." && pwd)"
PREFIX=""
DRY_RUN=no
SERVICE_USER=""
NODE_BIN=""
LINK=no
PURGE=no

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# Runs a command, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = yes ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

# Writes stdin to a file (mode $2), or says so under --dry-run.
write_file() {
  local file="$1" mode="$2" tmp
  if [ "$DRY_RUN" = yes ]; then
    printf '+ write %s (mode %s)\n' "$file" "$mode"
    cat >/dev/null
    return
  fi
  tmp="$(mktemp "$(dirname "$file")/.$(basename "$file").XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$file"
}

# Fills @NAME@ placeholders of a template.
render() {
  sed -e "s|@USER@|$SERVICE_USER|g" -e "s|@NODE@|$NODE_BIN|g" -e "s|@APP_DIR@|$APP_DIR|g" \
      -e "s|@CONFIG@|$CONFIG|g" -e "s|@DATA_DIR@|$DATA_DIR|g" "$1"
}

usage_install() {
  cat <<USAGE
usage: $SCRIPT_NAME [--prefix DIR] [--dry-run] [--user NAME] [--node PATH] [--link] [--source DIR]

Installs $SERVICE as a systemd service: the service user ($DEFAULT_USER), $CONFIG_REL (from a commented
template, never overwritten), $DATA_REL (0700, owned by the user), the app under /opt/vigil, a wrapper
/usr/local/bin/$SERVICE and /etc/systemd/system/$SERVICE.service; then enables and starts it.

  --prefix DIR   put everything under DIR and skip the user, ownership and systemctl steps (unprivileged;
                 for tests and staging). The unit then names the paths under DIR.
  --dry-run      print what would be done, change nothing
  --user NAME    service user (default $DEFAULT_USER)
  --node PATH    node binary the service runs (default: node on PATH)
  --link         make /opt/vigil a symlink to the source tree instead of a copy (development boxes)
  --source DIR   the built Vigil package to install (default: the tree this script is in)
USAGE
}

usage_uninstall() {
  cat <<USAGE
usage: $SCRIPT_NAME [--prefix DIR] [--dry-run] [--purge]

Stops and removes $SERVICE: the unit, the wrapper and (when no other Vigil service uses it) the app. The
config $CONFIG_REL and the data in $DATA_REL are kept unless --purge, which also removes the service user
if the install created it.
USAGE
}

parse_args() {
  local mode="$1"; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
      --prefix=*) PREFIX="${1#*=}"; shift ;;
      --dry-run) DRY_RUN=yes; shift ;;
      --user) [ "$mode" = install ] && [ $# -ge 2 ] || die "unknown option $1"; SERVICE_USER="$2"; shift 2 ;;
      --node) [ "$mode" = install ] && [ $# -ge 2 ] || die "unknown option $1"; NODE_BIN="$2"; shift 2 ;;
      --link) [ "$mode" = install ] || die "unknown option $1"; LINK=yes; shift ;;
      --source) [ "$mode" = install ] && [ $# -ge 2 ] || die "unknown option $1"; SOURCE="$(cd "$2" && pwd)"; shift 2 ;;
      --purge) [ "$mode" = uninstall ] || die "unknown option $1"; PURGE=yes; shift ;;
      -h|--help) "usage_$mode"; exit 0 ;;
      *) die "unknown option $1 (see --help)" ;;
    esac
  done
  if [ -n "$PREFIX" ]; then
    case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
    PREFIX="${PREFIX%/}"
  fi
  SERVICE_USER="${SERVICE_USER:-$DEFAULT_USER}"
  APP_DIR="$PREFIX/opt/vigil"
  BIN_DIR="$PREFIX/usr/local/bin"
  CONF_DIR="$PREFIX/etc/vigil"
  CONFIG="$PREFIX$CONFIG_REL"
  DATA_DIR="$PREFIX$DATA_REL"
  UNIT_DIR="$PREFIX/etc/systemd/system"
  UNIT="$UNIT_DIR/$SERVICE.service"
  WRAPPER="$BIN_DIR/$SERVICE"
  MARKER="$CONF_DIR/.install-$COMPONENT"
  OTHER_MARKER="$CONF_DIR/.install-$([ "$COMPONENT" = agent ] && echo cloud || echo agent)"
  # System-wide steps (user, ownership, systemctl) only for a real install.
  SYSTEM=$([ -z "$PREFIX" ] && echo yes || echo no)
}

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

do_install() {
  parse_args install "$@"
  if [ "$SYSTEM" = yes ] && [ "$DRY_RUN" = no ] && [ "$(id -u)" != 0 ]; then
    die "run as root (or use --prefix DIR for an unprivileged install, --dry-run to see the steps)"
  fi
  [ -f "$SOURCE/package.json" ] || die "$SOURCE is not a Vigil package (no package.json)"
  [ -f "$SOURCE/bin/$SERVICE.js" ] || die "$SOURCE/bin/$SERVICE.js is missing"
  [ -f "$SOURCE/dist/$COMPONENT/cli/main.js" ] || die "$SOURCE is not built (no dist/$COMPONENT/cli/main.js): run npm ci && npm run build there first"
  if [ -z "$NODE_BIN" ]; then NODE_BIN="$(command -v node || true)"; fi
  [ -n "$NODE_BIN" ] || die "node is not on PATH; pass --node /path/to/node (Node.js 20.18 or newer)"
  case "$NODE_BIN" in /*) ;; *) die "--node must be an absolute path, got $NODE_BIN" ;; esac
  [ -x "$NODE_BIN" ] || die "$NODE_BIN is not executable"
  "$NODE_BIN" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' \
    || die "$NODE_BIN is Node.js $("$NODE_BIN" --version); Vigil needs 20.18 or newer"

  local user_created=no config_created=no
  if [ "$SYSTEM" = yes ]; then
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
      run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
      user_created=yes
    fi
    if [ "$NEEDS_VIDEO" = yes ] && getent group video >/dev/null; then run usermod -a -G video "$SERVICE_USER"; fi
  fi

  run mkdir -p "$CONF_DIR" "$BIN_DIR" "$UNIT_DIR" "$(dirname "$APP_DIR")"
  run chmod 0755 "$CONF_DIR"
  run mkdir -p "$DATA_DIR"
  run chmod 0700 "$DATA_DIR"
  if [ "$SYSTEM" = yes ]; then run chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"; fi

  if [ -e "$CONFIG" ]; then
    say "keeping the existing config $CONFIG"
  else
    render "$LIB_DIR/$CONFIG_TEMPLATE" | write_file "$CONFIG" 0640
    if [ "$SYSTEM" = yes ]; then run chown "root:$SERVICE_USER" "$CONFIG"; fi
    config_created=yes
    say "wrote $CONFIG (from the commented template: edit it)"
  fi

  # The app: replaced whole, so an upgrade never mixes two versions' files.
  if [ "$LINK" = yes ]; then
    run rm -rf "$APP_DIR"
    run ln -sfn "$SOURCE" "$APP_DIR"
    say "linked $APP_DIR -> $SOURCE"
  elif [ "$SOURCE" != "$(cd "$APP_DIR" 2>/dev/null && pwd -P || true)" ]; then
    run rm -rf "$APP_DIR.new"
    run mkdir -p "$APP_DIR.new"
    local item
    for item in package.json package-lock.json README.md bin dist firmware-protocol node_modules; do
      if [ -e "$SOURCE/$item" ]; then run cp -a "$SOURCE/$item" "$APP_DIR.new/"; fi
    done
    run rm -rf "$APP_DIR"
    run mv "$APP_DIR.new" "$APP_DIR"
    say "copied the app to $APP_DIR"
  fi

  printf '#!/bin/sh\n# Installed by %s: runs %s with the node the service uses.\n: "${VIGIL_%s_CONFIG:=%s}"\nexport VIGIL_%s_CONFIG\nexec "%s" "%s/bin/%s.js" "$@"\n' \
    "$SCRIPT_NAME" "$SERVICE" "$(echo "$COMPONENT" | tr a-z A-Z)" "$CONFIG" "$(echo "$COMPONENT" | tr a-z A-Z)" "$NODE_BIN" "$APP_DIR" "$SERVICE" \
    | write_file "$WRAPPER" 0755

  render "$LIB_DIR/$UNIT_TEMPLATE" | write_file "$UNIT" 0644
  say "wrote $UNIT"

  printf 'USER=%s\nUSER_CREATED=%s\nCONFIG_CREATED=%s\nLINK=%s\nNODE=%s\n' "$SERVICE_USER" "$user_created" "$config_created" "$LINK" "$NODE_BIN" \
    | write_file "$MARKER" 0644

  if [ "$SYSTEM" = yes ]; then
    if have_systemd || [ "$DRY_RUN" = yes ]; then
      run systemctl daemon-reload
      run systemctl enable --now "$SERVICE"
    else
      say "systemd is not running here: not enabling $SERVICE (run: systemctl daemon-reload && systemctl enable --now $SERVICE)"
    fi
  fi
  say "installed $SERVICE$([ "$DRY_RUN" = yes ] && echo ' (dry run: nothing was changed)' || true)"
}

do_uninstall() {
  parse_args uninstall "$@"
  if [ "$SYSTEM" = yes ] && [ "$DRY_RUN" = no ] && [ "$(id -u)" != 0 ]; then die "run as root (or --prefix DIR, --dry-run)"; fi
  local USER_CREATED=no USER="$DEFAULT_USER"
  # shellcheck disable=SC1090
  if [ -f "$MARKER" ]; then . "$MARKER"; fi

  if [ "$SYSTEM" = yes ] && { have_systemd || [ "$DRY_RUN" = yes ]; }; then
    run systemctl disable --now "$SERVICE" || true
  fi
  if [ -e "$UNIT" ]; then run rm -f "$UNIT"; fi
  if [ -d "$UNIT_DIR/$SERVICE.service.d" ]; then say "keeping local overrides in $UNIT_DIR/$SERVICE.service.d"; fi
  if [ "$SYSTEM" = yes ] && { have_systemd || [ "$DRY_RUN" = yes ]; }; then run systemctl daemon-reload; fi
  if [ -e "$WRAPPER" ]; then run rm -f "$WRAPPER"; fi
  if [ -e "$OTHER_MARKER" ]; then
    say "keeping $APP_DIR: the other Vigil service still uses it"
  elif [ -e "$APP_DIR" ] || [ -L "$APP_DIR" ]; then
    run rm -rf "$APP_DIR"
  fi
  if [ -e "$MARKER" ]; then run rm -f "$MARKER"; fi

  if [ "$PURGE" = yes ]; then
    run rm -rf "$DATA_DIR"
    run rm -f "$CONFIG"
    if [ -d "$CONF_DIR" ] && [ -z "$(ls -A "$CONF_DIR" 2>/dev/null)" ]; then run rmdir "$CONF_DIR"; fi
    if [ "$SYSTEM" = yes ] && [ "$USER_CREATED" = yes ] && getent passwd "$USER" >/dev/null; then run userdel "$USER"; fi
    say "removed $SERVICE, its config and its data"
  else
    say "removed $SERVICE; kept the config $CONFIG and the data in $DATA_DIR (--purge removes them)"
  fi
  if [ -n "$PREFIX" ] && [ "$DRY_RUN" = no ]; then
    # Leave no empty folders of ours behind in a staging prefix.
    local d
    for d in "$UNIT_DIR" "$PREFIX/etc/systemd" "$BIN_DIR" "$PREFIX/usr/local" "$PREFIX/usr" "$PREFIX/opt" "$PREFIX/var/lib" "$PREFIX/var" "$CONF_DIR" "$PREFIX/etc"; do
      rmdir "$d" 2>/dev/null || true
    done
  fi
}
