/** The syntax tree of an IoT Hub query expression. Every node records where it starts in the text. */

export type Expr = Literal | PathRef | Unary | Binary | Call | ArrayLit;

export interface Literal {
  readonly kind: 'literal';
  /** `undefined` is a constant of the language (`undefined`), distinct from `null`. */
  readonly value: string | number | boolean | null | undefined;
  readonly pos: number;
}

/**
 * A property reference: `level`, `$contentType`, `$body.Weather.HistoricalData[0].Month`,
 * `properties.reported.[[$weird]]`. `root` keeps a leading `$`; segments are names or array indexes.
 */
export interface PathRef {
  readonly kind: 'path';
  readonly root: string;
  readonly segments: readonly (string | number)[];
  readonly pos: number;
}

export interface Unary {
  readonly kind: 'unary';
  readonly op: 'NOT' | '-';
  readonly operand: Expr;
  readonly pos: number;
}

export type ComparisonOp = '=' | '!=' | '<' | '>' | '<=' | '>=';
export type ArithmeticOp = '+' | '-' | '*' | '/' | '%';
export type BinaryOp = 'AND' | 'OR' | ComparisonOp | ArithmeticOp | 'IN' | 'NIN';

export interface Binary {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  readonly pos: number;
}

export interface Call {
  readonly kind: 'call';
  /** Upper-cased: function names are case-insensitive (`length` ≡ `LENGTH`). */
  readonly name: string;
  readonly args: readonly Expr[];
  readonly pos: number;
}

export interface ArrayLit {
  readonly kind: 'array';
  readonly items: readonly Expr[];
  readonly pos: number;
}
