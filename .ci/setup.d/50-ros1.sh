#!/usr/bin/env bash
# ROS 1 for the ROS 1 bridge tests: Debian's ros-core (rosmaster) + rospy + message packages.
# Idempotent: does nothing when every package is already installed. Never prompts.
set -euo pipefail
pkgs="ros-core python3-rospy python3-geometry-msgs python3-sensor-msgs python3-std-msgs python3-std-srvs python3-trajectory-msgs"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "ros1: already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq -o Dpkg::Use-Pty=0 $missing >/dev/null
echo "ros1: installed$missing"
