#!/usr/bin/env bash
# Draws Trove's app icon (a rounded teal square with a white chest and keyhole) with
# ImageMagick and writes the PNG sizes tauri.conf.json lists into icons/. Re-run after
# changing the drawing; the PNGs are committed.
set -euo pipefail
cd "$(dirname "$0")/../icons"
convert -size 512x512 xc:none \
  -fill '#0f5f5c' -draw 'roundrectangle 16,16 495,495 96,96' \
  -fill '#ffffff' -draw 'roundrectangle 104,150 407,392 28,28' \
  -fill '#0f5f5c' -draw 'rectangle 104,226 407,246' \
  -fill '#0f5f5c' -draw 'circle 256,300 256,272' \
  -fill '#0f5f5c' -draw 'polygon 244,306 268,306 276,360 236,360' \
  -define png:color-type=6 PNG32:icon.png
for s in 32 128; do convert icon.png -resize ${s}x${s} PNG32:${s}x${s}.png; done
convert icon.png -resize 256x256 PNG32:128x128@2x.png
