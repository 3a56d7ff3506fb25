#!/usr/bin/env bash
# Reproduces docs/performance.md: the shipped int8 detector on a 1280x720 H.264 clip (the demo
# clip scaled up with Debian's ffmpeg), compared with its float32 build. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmark-720p.json}"
clip="$(mktemp -d)/demo-720p.mp4"
ffmpeg -loglevel error -y -stream_loop 2 -i models/demo.mp4 -vf scale=1280:720 \
  -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p "$clip"
edgevision bench --model models/digit_detector.tflite --compare models/float32/digit_detector.tflite \
  --source "$clip" --frames 300 --threads auto --json > "$out"
edgevision bench --model models/digit_detector.tflite --source "$clip" --frames 300 --threads auto
echo "wrote $out" >&2
