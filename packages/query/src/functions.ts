/** The functions of the query language, their arities, and which dialect may call them (devguide §16.8). */

export type Dialect = 'routing' | 'twin';

interface FunctionSpec {
  readonly min: number;
  readonly max: number;
  readonly dialects: readonly Dialect[];
}

const routing = (min: number, max = min): FunctionSpec => ({ min, max, dialects: ['routing'] });

export const FUNCTIONS: Readonly<Record<string, FunctionSpec>> = {
  ABS: routing(1),
  EXP: routing(1),
  POWER: routing(2),
  SQUARE: routing(1),
  CEILING: routing(1),
  FLOOR: routing(1),
  SIGN: routing(1),
  SQRT: routing(1),
  AS_NUMBER: routing(1),
  IS_ARRAY: routing(1),
  IS_BOOL: routing(1),
  IS_DEFINED: { min: 1, max: 1, dialects: ['routing', 'twin'] },
  IS_NULL: routing(1),
  IS_NUMBER: routing(1),
  IS_OBJECT: routing(1),
  IS_PRIMITIVE: routing(1),
  IS_STRING: routing(1),
  CONCAT: routing(2, 64),
  LENGTH: routing(1),
  LOWER: routing(1),
  UPPER: routing(1),
  SUBSTRING: routing(2, 3),
  INDEX_OF: routing(2),
  STARTS_WITH: routing(2),
  ENDS_WITH: routing(2),
  CONTAINS: routing(2),
};
