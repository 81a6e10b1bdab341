#!/usr/bin/env bash
# Removes the vigil-cloud service; keeps /etc/vigil/cloud.yaml and /var/lib/vigil-cloud unless --purge.
SCRIPT_NAME=uninstall-cloud.sh
COMPONENT=cloud SERVICE=vigil-cloud DEFAULT_USER=vigil-cloud
DATA_REL=/var/lib/vigil-cloud CONFIG_REL=/etc/vigil/cloud.yaml
CONFIG_TEMPLATE=cloud.yaml.example UNIT_TEMPLATE=vigil-cloud.service.in NEEDS_VIDEO=no
. "$(dirname "$0")/systemd/install-lib.sh"
do_uninstall "$@"
