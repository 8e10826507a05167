-- The tool-drift lock's column: the tools of an instance's MCP server that
-- the agent withholds from callers because their definition (description,
-- schema, annotations) changed since an operator approved it, or they are new
-- since then. Names and the kind of change only ([{"name": "echo", "change":
-- "changed" | "new"}]), never a definition's text or an argument; an empty
-- array: nothing withheld; null: not an MCP server, or an agent from before
-- the drift lock. What changed in full is the agent's to show
-- (GET /tools/{name}/mcp/drift).
alter table public.dtma_container_registry
  add column if not exists mcp_tools_withheld jsonb;

alter table public.dtma_container_registry
  drop constraint if exists dtma_container_registry_mcp_tools_withheld_shape;
alter table public.dtma_container_registry
  add constraint dtma_container_registry_mcp_tools_withheld_shape check (
    mcp_tools_withheld is null
    or (jsonb_typeof(mcp_tools_withheld) = 'array'
        and jsonb_path_match(mcp_tools_withheld, '$.size() <= 1000')
        and not jsonb_path_exists(mcp_tools_withheld,
          '$[*] ? (@.type() != "object" || !exists(@.name) || @.name.type() != "string" || !(@.change == "changed" || @.change == "new" || @.change == "removed"))'))
  );

comment on column public.dtma_container_registry.mcp_tools_withheld is
  'tools the agent withholds from callers since their definition changed after approval: [{name, change}] (null: not MCP, or an agent from before the drift lock)';

-- As in 20261205140000, with mcp_tools_withheld written (and compared: a
-- change of what is withheld is a new row version).
create or replace function public.dtma_registry_upsert(p_account_tool_environment_id uuid, p_row jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  instance_id uuid;
  r public.dtma_container_registry;
begin
  if p_account_tool_environment_id is null then
    raise exception 'no toolbox' using errcode = 'PT401';
  end if;
  if jsonb_typeof(p_row) is distinct from 'object' then
    raise exception 'the row must be a JSON object' using errcode = 'PT400';
  end if;
  begin
    instance_id := (p_row ->> 'account_tool_instance_id')::uuid;
  exception when invalid_text_representation then
    raise exception 'account_tool_instance_id is not a uuid' using errcode = 'PT400';
  end;
  if instance_id is null then
    raise exception 'account_tool_instance_id is required' using errcode = 'PT400';
  end if;
  perform public.dtma_owned_instance(p_account_tool_environment_id, instance_id);
  r := jsonb_populate_record(null::public.dtma_container_registry, p_row);
  -- The toolbox is the one that called, whatever the row says.
  insert into public.dtma_container_registry as r0 (
    account_tool_instance_id, account_tool_environment_id, container_name, instance_name_on_toolbox,
    docker_image_url, container_id, dtma_status, docker_status, port_bindings, environment_variables,
    last_seen_at, mcp_status, mcp_transport, mcp_endpoint_path, mcp_server_info, mcp_tools,
    mcp_tools_fingerprint, mcp_checked_at, egress, mcp_tools_withheld)
  values (
    instance_id, p_account_tool_environment_id, r.container_name, r.instance_name_on_toolbox,
    r.docker_image_url, r.container_id, r.dtma_status, r.docker_status, coalesce(r.port_bindings, '{}'::jsonb), r.environment_variables,
    coalesce(r.last_seen_at, now()), r.mcp_status, r.mcp_transport, r.mcp_endpoint_path, r.mcp_server_info, r.mcp_tools,
    r.mcp_tools_fingerprint, r.mcp_checked_at, r.egress, r.mcp_tools_withheld)
  on conflict (account_tool_instance_id) do update set
    account_tool_environment_id = excluded.account_tool_environment_id,
    container_name = excluded.container_name,
    instance_name_on_toolbox = excluded.instance_name_on_toolbox,
    docker_image_url = excluded.docker_image_url,
    container_id = excluded.container_id,
    dtma_status = excluded.dtma_status,
    docker_status = excluded.docker_status,
    port_bindings = excluded.port_bindings,
    environment_variables = excluded.environment_variables,
    last_seen_at = excluded.last_seen_at,
    mcp_status = excluded.mcp_status,
    mcp_transport = excluded.mcp_transport,
    mcp_endpoint_path = excluded.mcp_endpoint_path,
    mcp_server_info = excluded.mcp_server_info,
    mcp_tools = excluded.mcp_tools,
    mcp_tools_fingerprint = excluded.mcp_tools_fingerprint,
    mcp_checked_at = excluded.mcp_checked_at,
    egress = excluded.egress,
    mcp_tools_withheld = excluded.mcp_tools_withheld
  -- Nothing but the agent's time stamps changed: no new row version.
  where (r0.account_tool_environment_id, r0.container_name, r0.instance_name_on_toolbox, r0.docker_image_url,
         r0.container_id, r0.dtma_status, r0.docker_status, r0.port_bindings, r0.environment_variables,
         r0.mcp_status, r0.mcp_transport, r0.mcp_endpoint_path, r0.mcp_server_info, r0.mcp_tools,
         r0.mcp_tools_fingerprint, r0.egress, r0.mcp_tools_withheld)
    is distinct from
        (excluded.account_tool_environment_id, excluded.container_name, excluded.instance_name_on_toolbox, excluded.docker_image_url,
         excluded.container_id, excluded.dtma_status, excluded.docker_status, excluded.port_bindings, excluded.environment_variables,
         excluded.mcp_status, excluded.mcp_transport, excluded.mcp_endpoint_path, excluded.mcp_server_info, excluded.mcp_tools,
         excluded.mcp_tools_fingerprint, excluded.egress, excluded.mcp_tools_withheld);
exception
  -- A value the table refuses (status, env keys only, not null, bad JSON type) is the row's fault.
  when check_violation or not_null_violation or invalid_text_representation or datatype_mismatch
    or invalid_parameter_value or string_data_right_truncation or invalid_datetime_format then
    raise exception 'the row is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;
