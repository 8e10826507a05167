// The part of Agentopia's schema that the DTMA edge functions touch, typed
// for supabase-js so a wrong table, column or enum value is a compile error.
// Columns follow dtma-contract.md ("Backend tables"). Rows are type aliases,
// not interfaces: supabase-js needs them to fit Record<string, unknown>.

/** account_tool_installation_status_enum: the only values status_on_toolbox may hold. */
export const INSTALLATION_STATUSES = [
  'pending_install',
  'installing',
  'active',
  'error_install',
  'pending_uninstall',
  'uninstalling',
  'uninstalled',
  'error_uninstall',
  'pending_config',
  'stopped',
  'starting',
  'stopping',
  'error_runtime',
  'disabled',
  'pending_deploy',
  'deploying',
  'running',
  'error',
  'pending_delete',
  'deleting'
] as const
export type InstallationStatus = (typeof INSTALLATION_STATUSES)[number]

/** account_tool_environment_status_enum as Agentopia holds it (earlier values kept, provisioning values added). */
export const ENVIRONMENT_STATUSES = [
  'inactive',
  'pending_creation',
  'creating',
  'active',
  'error_creation',
  'pending_deletion',
  'deleting',
  'error_deletion',
  'unresponsive',
  'scaling',
  'pending_provision',
  'provisioning',
  'error_provisioning',
  'pending_deprovision',
  'deprovisioning',
  'deprovisioned',
  'error_deprovisioning',
  'awaiting_heartbeat'
] as const
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number]

/** Values the check constraints of account_tool_instances allow. */
export type McpServerType = 'standard_tool' | 'mcp_server'
export type McpTransportType = 'stdio' | 'http' | 'sse'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Ids are uuid columns: PostgreSQL refuses any other text in a filter with an
 *  error, so a value from a caller is checked before it reaches a query. */
export function isUuid(value: string): boolean {
  return UUID.test(value)
}

export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]

export type EnvironmentRow = {
  id: string
  user_id: string
  public_ip_address: string | null
  status: EnvironmentStatus
  dtma_bearer_token: string | null
  dtma_last_known_version: string | null
  dtma_health_details_json: Json | null
  last_heartbeat_at: string | null
  /** The certificate the agent serves HTTPS with, from its heartbeat (migration 20261205130000); null: an agent of an earlier build. */
  dtma_tls_fingerprint_sha256?: string | null
  dtma_tls_certificate_pem?: string | null
}

export type InstanceRow = {
  id: string
  account_tool_environment_id: string
  tool_catalog_id: string
  instance_name_on_toolbox: string
  status_on_toolbox: InstallationStatus
  docker_image_url: string
  base_config_override_json: Json | null
  last_heartbeat_from_dtma: string | null
  instance_error_message: string | null
  created_at: string
  updated_at: string
  mcp_server_type: McpServerType | null
  mcp_transport_type: McpTransportType | null
  mcp_endpoint_path: string | null
  mcp_server_capabilities: Json | null
  mcp_discovery_metadata: Json | null
}

export type CatalogRow = {
  id: string
  name: string
  docker_image_url: string
  package_identifier: string | null
}

type Table<Row, Required extends keyof Row> = {
  Row: Row
  Insert: Pick<Row, Required> & Partial<Row>
  Update: Partial<Row>
  Relationships: []
}

export type Database = {
  public: {
    Tables: {
      account_tool_environments: Table<EnvironmentRow, 'user_id'>
      account_tool_instances: Table<InstanceRow, 'account_tool_environment_id' | 'tool_catalog_id' | 'instance_name_on_toolbox' | 'status_on_toolbox' | 'docker_image_url'>
      tool_catalog: Table<CatalogRow, 'name' | 'docker_image_url'>
    }
    Views: { [_ in never]: never }
    Functions: {
      // supabase/migrations/20261205120000_dtma_toolbox_credentials.sql
      dtma_registry_upsert: { Args: { p_account_tool_environment_id: string; p_row: Json }; Returns: undefined }
      dtma_registry_delete: { Args: { p_account_tool_environment_id: string; p_account_tool_instance_id: string }; Returns: undefined }
      dtma_registry_rows: { Args: { p_account_tool_environment_id: string }; Returns: Array<Record<string, Json>> }
      dtma_redeem_enrolment: { Args: { p_token: string }; Returns: Array<{ account_tool_environment_id: string; dtma_bearer_token: string }> }
      // supabase/migrations/20261205140000_dtma_fleet_scale.sql
      dtma_heartbeat: { Args: { p_token: string; p_heartbeat: Json; p_at?: string }; Returns: undefined }
      // supabase/migrations/20261205150000_dtma_refresh_toolbox.sql
      dtma_refresh_toolbox: { Args: { p_toolbox_id: string; p_toolbox: Json; p_instances?: Json; p_at?: string }; Returns: number }
      // supabase/migrations/20261205170000_dtma_mcp_audit.sql
      dtma_audit_insert: { Args: { p_account_tool_environment_id: string; p_rows: Json }; Returns: number }
    }
    Enums: {
      account_tool_installation_status_enum: InstallationStatus
      account_tool_environment_status_enum: EnvironmentStatus
    }
    CompositeTypes: { [_ in never]: never }
  }
}
