export type { Expr, Literal, PathRef, Unary, Binary, Call, ArrayLit, BinaryOp, ComparisonOp, ArithmeticOp } from './ast.js';
export { QuerySyntaxError } from './errors.js';
export { tokenize } from './lexer.js';
export type { Token, TokenKind } from './lexer.js';
export { parseExpression, Parser } from './parser.js';
export type { ParseOptions } from './parser.js';
export { FUNCTIONS } from './functions.js';
export type { Dialect } from './functions.js';
export { compileCondition, createScope, decodeJsonBody, readFromTwin, references, SYSTEM_PROPERTY_NAMES } from './evaluate.js';
export type { CompiledCondition, References, RoutingMessage, Scope, Value } from './evaluate.js';

import { compileCondition, type CompiledCondition } from './evaluate.js';
import { parseExpression } from './parser.js';

/** Parses and compiles a routing condition (an empty condition is `true`, as IoT Hub treats it). */
export function compileRoutingCondition(text: string): CompiledCondition {
  return compileCondition(parseExpression(text.trim() === '' ? 'true' : text, { dialect: 'routing' }));
}
export { parseSelect, pathText } from './select.js';
export type { AggregateFn, Collection, SelectItem, SelectStatement } from './select.js';
export { aggregatesSql, conditionSql, jsonbSql, SqlParams } from './sql.js';
export type { SqlSchema, SqlValue } from './sql.js';
