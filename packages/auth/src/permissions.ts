/** Shared access policy rights, as IoT Hub names them. */
export const Permission = {
  RegistryRead: 'RegistryRead',
  RegistryWrite: 'RegistryWrite',
  ServiceConnect: 'ServiceConnect',
  DeviceConnect: 'DeviceConnect',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

export const allPermissions: readonly Permission[] = Object.values(Permission);

/** True when `name` is a known right. */
export function isPermission(name: string): name is Permission {
  return (allPermissions as readonly string[]).includes(name);
}

/**
 * The policies every new hub starts with (spec/seeds-devguide.md §10.1). RegistryWrite implies
 * RegistryRead, as in IoT Hub's `RegistryReadWrite`.
 */
export const defaultPolicies: ReadonlyArray<{ name: string; rights: readonly Permission[] }> = [
  { name: 'iothubowner', rights: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'] },
  { name: 'service', rights: ['ServiceConnect'] },
  { name: 'device', rights: ['DeviceConnect'] },
  { name: 'registryRead', rights: ['RegistryRead'] },
  { name: 'registryReadWrite', rights: ['RegistryRead', 'RegistryWrite'] },
];

/** True when `granted` satisfies `required` (RegistryWrite also grants RegistryRead). */
export function hasPermission(granted: readonly string[], required: Permission): boolean {
  if (granted.includes(required)) return true;
  return required === 'RegistryRead' && granted.includes('RegistryWrite');
}
