#!/usr/bin/env bash
# Installs vigil-cloud (the collector) as a systemd service. --help for the options; layout and steps in
# scripts/systemd/install-lib.sh.
SCRIPT_NAME=install-cloud.sh
COMPONENT=cloud SERVICE=vigil-cloud DEFAULT_USER=vigil-cloud
DATA_REL=/var/lib/vigil-cloud CONFIG_REL=/etc/vigil/cloud.yaml
CONFIG_TEMPLATE=cloud.yaml.example UNIT_TEMPLATE=vigil-cloud.service.in NEEDS_VIDEO=no
. "$(dirname "$0")/systemd/install-lib.sh"
do_install "$@"
