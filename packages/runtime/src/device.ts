import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HerdError } from '@herd/core';

/**
 * Devices are resolved once, at the edge (an app reads a flag or environment variable, calls
 * `resolveDevice`, shows the reason), and libraries take the resolved `Device`.
 */
export type Device = 'cpu' | 'webgpu' | 'cuda';
export type DeviceRequest = Device | 'auto';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];
export const DEVICE_REQUESTS: readonly DeviceRequest[] = [...DEVICES, 'auto'];
/** The device when nobody asks for one: the CPU, which every install has. */
export const DEFAULT_DEVICE: Device = 'cpu';

export function isDeviceRequest(s: string): s is DeviceRequest {
  return (DEVICE_REQUESTS as readonly string[]).includes(s);
}

export interface DeviceChoice {
  readonly device: Device;
  /** Why this device was chosen (shown to users by apps). */
  readonly reason: string;
}

function ortBinDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Why CUDA cannot be used, or undefined when its provider library is installed. */
export function cudaMissing(): string | undefined {
  const dir = ortBinDir();
  const has = existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('libonnxruntime_providers_cuda'));
  if (has) return undefined;
  return (
    `the CUDA execution provider is not installed in ${dir}. onnxruntime-node downloads it at install ` +
    `time when allowed: on a machine with network access and CUDA 12, run ` +
    `'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node'`
  );
}

/** Why WebGPU cannot be used, or undefined when the platform and Vulkan loader look usable. */
export function webgpuMissing(): string | undefined {
  if (process.platform === 'linux') {
    const loader = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'];
    if (!loader.some((p) => existsSync(p))) {
      return "WebGPU on Linux needs the Vulkan loader (Debian: 'apt-get install libvulkan1') and a Vulkan driver (a GPU driver, or Mesa's lavapipe: mesa-vulkan-drivers ≥ 25)";
    }
  }
  return undefined;
}

function hasGpuNode(): boolean {
  return existsSync('/dev/nvidia0') || existsSync('/dev/dxg') || (existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD')));
}

/**
 * Resolves a device request. 'auto' takes CUDA when its provider is installed, else WebGPU when a
 * GPU and Vulkan are present, else the CPU — and says which and why. An explicit request for a
 * missing device is an error that says what is missing and how to get it.
 */
export function resolveDevice(request: DeviceRequest): DeviceChoice {
  if (!isDeviceRequest(request)) {
    throw new HerdError('invalid_argument', `unknown device '${String(request)}': choose one of ${DEVICE_REQUESTS.join(', ')}`);
  }
  if (request === 'cpu') return { device: 'cpu', reason: 'requested' };
  if (request === 'cuda') {
    const why = cudaMissing();
    if (why) throw new HerdError('device_unavailable', `device 'cuda' is unavailable: ${why}`);
    return { device: 'cuda', reason: 'requested' };
  }
  if (request === 'webgpu') {
    const why = webgpuMissing();
    if (why) throw new HerdError('device_unavailable', `device 'webgpu' is unavailable: ${why}`);
    return { device: 'webgpu', reason: 'requested' };
  }
  if (!cudaMissing()) return { device: 'cuda', reason: 'auto: CUDA provider installed' };
  if (hasGpuNode() && !webgpuMissing()) return { device: 'webgpu', reason: 'auto: GPU and Vulkan loader found' };
  return { device: 'cpu', reason: 'auto: no CUDA provider and no GPU with Vulkan found' };
}

/** Whether each device can be used here and, when not, why (for `herd info`). */
export function deviceAvailability(): readonly { readonly device: Device; readonly available: boolean; readonly why: string }[] {
  const cuda = cudaMissing();
  const webgpu = webgpuMissing();
  const webgpuWhy =
    webgpu ??
    (hasGpuNode()
      ? 'Vulkan loader and a GPU device node found'
      : "Vulkan loader found but no GPU device node (/dev/nvidia0, /dev/dxg, /dev/dri/renderD*): runs only on a software Vulkan driver (Mesa's lavapipe), and 'auto' will not pick it");
  return [
    { device: 'cpu', available: true, why: 'always available' },
    { device: 'webgpu', available: webgpu === undefined, why: webgpuWhy },
    { device: 'cuda', available: cuda === undefined, why: cuda ?? 'CUDA execution provider installed' },
  ];
}
