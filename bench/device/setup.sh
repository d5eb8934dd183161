# Sourced by the GPU-session scripts: the device machine has no Node or npm, so the Node binary, the
# runtime node_modules and our built dist/ folders travel as .device/{base.tar.xz,dist.tar.gz}, and
# the Vulkan loader as .gl/*.deb (see the README's GPU section).
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
tar -xJf .device/base.tar.xz && tar -xzf .device/dist.tar.gz
export PATH=$PWD/bin:$PATH
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
