#!/usr/bin/env bash
# The GPU check: JavaCPP CUDA/NCCL bindings against a GPU host's libraries, a one-rank NCCL
# communicator, 100 abort/re-init cycles, all-reduce bandwidth for 1-256 MB (one JSON line);
# then, where the host's Python has PyTorch, scripts/gpu-baseline.py: PyTorch's own NCCL
# all-reduce of the same sizes, device-only and host-staged (a second JSON line).
#
#   scripts/gpu-check.sh pack   here, with Java and Maven: builds .gpu/ (a jlink'ed Java
#                               runtime and the jars, at most 64 MiB) to carry to the GPU host
#   scripts/gpu-check.sh run    on the GPU host (no Java needed): finds libnccl.so.2 and
#                               libcudart.so.13 (system, or the Python nvidia-* packages that
#                               PyTorch installs) and runs the check from .gpu/
#
# Exit codes of run: 0 all checks passed, 1 a check failed, 3 no GPU or NCCL found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.gpu"
limit=$((64 * 1024 * 1024))

pack() {
  command -v jlink >/dev/null || { echo "gpu-check: jlink not found; install a Java 17 JDK" >&2; exit 2; }
  (cd "$root" && mvn -B -q -DskipTests -pl trainer -am install)
  rm -rf "$out" && mkdir -p "$out/lib"
  jlink --add-modules java.base,java.logging,java.management,jdk.unsupported,java.naming,java.sql \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$out/jre"
  (cd "$root/trainer" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
    -DincludeGroupIds=org.bytedeco,org.slf4j,com.fasterxml.jackson.core -DoutputDirectory="$out/lib")
  cp "$root"/trainer/target/tenax-trainer-*.jar "$out/lib/"
  rm -f "$out"/lib/*-tests.jar
  local size
  size=$(du -sb "$out" | cut -f1)
  echo "gpu-check: packed $out: $((size / 1024 / 1024)) MiB (limit 64 MiB)"
  if [ "$size" -gt "$limit" ]; then
    echo "gpu-check: $out is over 64 MiB" >&2
    exit 1
  fi
}

library_dirs() {
  # the driver's and the system's, then every Python environment's nvidia-* packages
  local dirs=() py
  for py in python3 python; do
    command -v "$py" >/dev/null || continue
    while IFS= read -r d; do dirs+=("$d"); done < <("$py" - <<'PY' 2>/dev/null || true
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p])
found = set()
for r in roots:
    for name in ("libnccl.so.2", "libcudart.so.1*"):
        for f in glob.glob(os.path.join(r, "nvidia", "*", "lib", name)) + glob.glob(os.path.join(r, "torch", "lib", name)):
            found.add(os.path.dirname(f))
print("\n".join(sorted(found)))
PY
)
  done
  printf '%s\n' "${dirs[@]}" | awk 'NF && !seen[$0]++'
}

run() {
  [ -x "$out/jre/bin/java" ] || { echo "gpu-check: $out/jre missing; run 'scripts/gpu-check.sh pack' first" >&2; exit 2; }
  local extra
  extra=$(library_dirs | paste -sd: -)
  export LD_LIBRARY_PATH="${extra}${extra:+:}${LD_LIBRARY_PATH:-}"
  echo "gpu-check: LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >&2
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
  local status=0
  "$out/jre/bin/java" -Xmx3g -Dorg.bytedeco.javacpp.cachedir=/tmp/tenax-javacpp \
    -cp "$out/lib/*" io.tenax.trainer.collective.nccl.GpuCheck | tee "${OUT:-/tmp}/gpu-check.json" || status=$?
  # the same-run baseline, where the host's Python has PyTorch: its own NCCL, device-only and staged
  if command -v python3 >/dev/null && python3 -c 'import torch' 2>/dev/null; then
    python3 "$root/scripts/gpu-baseline.py" | tee "${OUT:-/tmp}/gpu-baseline.json" || true
  else
    echo "gpu-check: no Python with PyTorch here; no baseline" >&2
  fi
  exit $status
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh pack|run" >&2; exit 2 ;;
esac
