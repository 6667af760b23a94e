#!/usr/bin/env bash
# ROS 2 Jazzy for the ROS 2 bridge tests: rclpy + message packages from PyPI wheels, in a
# SEPARATE virtualenv .venv-ros2 (the wheels' .pth file relaunches every Python process of
# that venv with a changed library path, so they must not live in the main .venv).
# Also installs numpy/msgpack/websockets there: the bridge node runs under this interpreter.
# Idempotent: a stamp file records the installed pin set. Never prompts.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-ros2
PKGS="ros-jazzy-rclpy[fastrtps]==7.1.6 ros-jazzy-sensor-msgs==5.3.6 ros-jazzy-geometry-msgs==5.3.6 ros-jazzy-std-msgs==5.3.6 ros-jazzy-std-srvs==5.3.6 ros-jazzy-trajectory-msgs==5.3.6 numpy==1.26.4 msgpack==1.2.4 websockets==17.4 PyYAML==6.0.2"
STAMP="$VENV/.ros2-installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKGS" ] && [ -x "$VENV/bin/python" ]; then
  echo "ros2: already installed"
  exit 0
fi
PY=""
for cand in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import sys; assert sys.version_info >= (3, 10)" 2>/dev/null; then
    PY="$cand"; break
  fi
done
[ -n "$PY" ] || { echo "ros2: no python >= 3.10 found" >&2; exit 1; }
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $PKGS
echo "$PKGS" > "$STAMP"
echo "ros2: installed into $VENV with $("$VENV/bin/python" --version)"
