#!/usr/bin/env bash
# Removes the vigil-agent service; keeps /etc/vigil/agent.yaml and /var/lib/vigil unless --purge.
SCRIPT_NAME=uninstall-agent.sh
COMPONENT=agent SERVICE=vigil-agent DEFAULT_USER=vigil
DATA_REL=/var/lib/vigil CONFIG_REL=/etc/vigil/agent.yaml
CONFIG_TEMPLATE=agent.yaml.example UNIT_TEMPLATE=vigil-agent.service.in NEEDS_VIDEO=yes
. "$(dirname "$0")/systemd/install-lib.sh"
do_uninstall "$@"
