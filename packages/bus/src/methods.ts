/**
 * Direct methods on the bus: the service side sends a {@link MethodRequest} as a core NATS
 * request to `subjects.method(identity)`; the gateway holding the device answers with a
 * {@link MethodReply}. "No responders" means no gateway holds the device: it is offline.
 */
export interface MethodRequest {
  readonly methodName: string;
  /** Any JSON value; `null` when the caller sent none. */
  readonly payload: unknown;
  readonly responseTimeoutInSeconds: number;
}

/** The device's answer, or a hub error code when the device could not be asked. */
export type MethodReply =
  | { readonly status: number; readonly payload: unknown }
  | {
      readonly error: string;
      readonly message: string;
      /** The device was not asked (connected but not subscribed): a caller with a connect timeout may ask again. */
      readonly notAsked?: boolean;
    };
