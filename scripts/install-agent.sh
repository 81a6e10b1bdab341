#!/usr/bin/env bash
# Installs vigil-agent as a systemd service on a camera box. --help for the options; layout and steps in
# scripts/systemd/install-lib.sh.
SCRIPT_NAME=install-agent.sh
COMPONENT=agent SERVICE=vigil-agent DEFAULT_USER=vigil
DATA_REL=/var/lib/vigil CONFIG_REL=/etc/vigil/agent.yaml
CONFIG_TEMPLATE=agent.yaml.example UNIT_TEMPLATE=vigil-agent.service.in NEEDS_VIDEO=yes
. "$(dirname "$0")/systemd/install-lib.sh"
do_install "$@"
