// Types derived from the route table (routes.ts): each route's params, body,
// query and replies, the compile-time check that a path's `:params` are its
// params schema's keys, and the one function that fills a path.
import type { Static, TSchema } from 'typebox'
import type { RouteDefinition, RouteId, Routes } from './routes.ts'

/** The `:param` names of a path, e.g. '/tools/:name/start' -> 'name'. */
export type PathParamNames<P extends string> = P extends `${string}:${infer Param}/${infer Rest}`
  ? Param | PathParamNames<`/${Rest}`>
  : P extends `${string}:${infer Param}`
    ? Param
    : never

type SchemaOf<R, K extends string> = R extends { readonly [key in K]: infer S extends TSchema } ? S : never
type StaticOrNever<S> = [S] extends [never] ? never : S extends TSchema ? Static<S> : never

export type RouteParams<R extends RouteDefinition> = StaticOrNever<SchemaOf<R, 'params'>>
export type RouteBody<R extends RouteDefinition> = StaticOrNever<SchemaOf<R, 'body'>>
export type RouteQuery<R extends RouteDefinition> = StaticOrNever<SchemaOf<R, 'querystring'>>

/** Every declared (status, body) pair of a route, as a discriminated union. */
export type RouteResponse<R extends RouteDefinition> = {
  [S in keyof R['responses'] & number]: { status: S; body: Static<R['responses'][S]> }
}[keyof R['responses'] & number]

/** Success replies only (2xx): what a handler returns. */
export type RouteSuccess<R extends RouteDefinition> = Extract<RouteResponse<R>, { status: 200 | 201 | 202 | 204 }>

// A path's `:params` must be exactly the keys of its params schema: renaming
// one side without the other fails to compile here.
type ParamKeys<R extends RouteDefinition> = [RouteParams<R>] extends [never] ? never : keyof RouteParams<R> & string
type ParamsMatchPath = {
  [K in RouteId]: [PathParamNames<Routes[K]['path']>] extends [ParamKeys<Routes[K]>]
    ? [ParamKeys<Routes[K]>] extends [PathParamNames<Routes[K]['path']>]
      ? true
      : K
    : K
}
const paramsMatchPath: { [K in RouteId]: true } = {} as ParamsMatchPath
void paramsMatchPath

/** Fill a route path with its parameters, percent-encoding each one. */
export function buildPath(path: string, params: Readonly<Record<string, string>> = {}): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, (_match, key: string) => {
    const value = params[key]
    if (value === undefined) throw new Error(`missing path parameter '${key}' for ${path}`)
    return encodeURIComponent(value)
  })
}
