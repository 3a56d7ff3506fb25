#!/usr/bin/env bash
# Reproduces docs/performance.md: the shipped int8 detector on a 1280x720 H.264 clip (the demo
# clip, looped three times and scaled with Debian's ffmpeg). Not part of CI. Pass a float32
# build of the detector as $2 to add the int8 vs float32 comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmark-720p.json}"
clip="$(mktemp -d)/demo-720p.mp4"
ffmpeg -loglevel error -y -stream_loop 2 -i models/demo.mp4 -vf scale=1280:720 \
  -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p "$clip"
compare=()
if [ -n "${2:-}" ]; then compare=(--compare "$2"); fi
for threads in 1 2; do
  json="${out%.json}-threads$threads.json"
  edgevision bench --model models/digit_detector.tflite "${compare[@]}" --source "$clip" \
    --frames 300 --repeat 5 --threads "$threads" --json > "$json"
  # The text report of the same run (one run per thread count: the live-rate part takes seconds).
  python -c 'import json, sys; from edgevision.bench import format_report; print(format_report(json.load(open(sys.argv[1]))))' "$json"
done
echo "wrote ${out%.json}-threads*.json" >&2
