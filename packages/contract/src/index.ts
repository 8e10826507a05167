// @dtma/contract: the DTMA API as data (schemas + route table) and a typed client.
export * from './schemas.ts'
export * from './deploy-override.ts'
export * from './errors.ts'
export * from './routes.ts'
export * from './client.ts'
export * from './sse.ts'
export * from './backend-status.ts'
export * from './heartbeat.ts'
