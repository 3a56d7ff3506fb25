#!/usr/bin/env bash
# Installs everything the test suite needs (Debian packages, the project with its train and
# dev extras) and runs the whole suite. CI calls exactly this; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  ffmpeg mosquitto openssl
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  systemd chromium
)
missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[train,dev]'
# MediaPipe, for tests/test_consumers_mediapipe.py, without its dependencies: they would add
# opencv-contrib-python, whose cv2 clashes with opencv-python-headless; what its vision tasks use
# (numpy, absl-py, flatbuffers) is already here.
python3 -m pip install -q --disable-pip-version-check --no-deps 'mediapipe==1.2.3'
python3 -m pytest "$@"
