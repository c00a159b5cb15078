/** A queue: a device's, or a module's (module input messages). */
export interface QueueKey {
  readonly hub: string;
  readonly deviceId: string;
  /** '' for the device queue. */
  readonly moduleId: string;
}

export const ACK_MODES = ['none', 'positive', 'negative', 'full'] as const;
export type AckMode = (typeof ACK_MODES)[number];

/** How a message left the queue (devguide §7.4 StatusCode). */
export type FeedbackStatus = 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected' | 'Purged';

/** Does `ack` ask for feedback on `status`? positive: completion; negative: dead-lettering; full: both. */
export function wantsFeedback(ack: string, status: FeedbackStatus): boolean {
  if (ack === 'full') return true;
  return status === 'Success' ? ack === 'positive' : ack === 'negative';
}

/** A C2D message as the sender gives it. */
export interface OutgoingMessage {
  readonly body: Buffer;
  readonly messageId: string;
  readonly correlationId: string;
  readonly userId: string;
  readonly ack: AckMode;
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly expiryTime: Date | undefined;
  readonly inputName: string;
}

/** A locked message as a receiver gets it. */
export interface LockedMessage extends Omit<OutgoingMessage, 'expiryTime'> {
  readonly expiryTime: Date;
  readonly enqueuedTime: Date;
  readonly sequenceNumber: number;
  readonly deliveryCount: number;
  readonly lockToken: string;
}

/** One feedback record, as IoT Hub serializes it (scenario 12; `statusCode` added for the spec's StatusCode). */
export interface FeedbackRecord {
  readonly originalMessageId: string;
  readonly description: FeedbackStatus;
  readonly statusCode: FeedbackStatus;
  readonly deviceGenerationId: string;
  readonly deviceId: string;
  readonly enqueuedTimeUtc: string;
}

/** A locked feedback message. */
export interface LockedFeedback {
  readonly messageId: string;
  /** Feedback: an array of records; a file-upload notification: one object. */
  readonly body: unknown;
  readonly enqueuedTime: Date;
  readonly expiryTime: Date;
  readonly deliveryCount: number;
  readonly lockToken: string;
}
