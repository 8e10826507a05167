-- dtma_mcp_audit: the audit trail of MCP calls a DTMA agent mirrors (every
-- tools/call, resources/read and prompts/get through the agent: who, which
-- instance, which tool, URI or prompt, the SHA-256 of the arguments, never
-- their values, how long, and the outcome). A toolbox writes it through the
-- `registry` edge function, which hands dtma_audit_insert the toolbox its
-- own token names: a batch with a row of another toolbox's instance is
-- refused whole (PT403). A signed-in user reads only the rows of their own
-- toolboxes (row-level security); nobody but the service role writes.
-- Idempotent, like the registry's migrations: a batch sent again (a retry
-- after a lost answer) adds nothing, the rows' ids are the agent's.

create table if not exists public.dtma_mcp_audit (
  id uuid primary key,
  account_tool_environment_id uuid not null
    references public.account_tool_environments (id) on delete cascade,
  account_tool_instance_id uuid not null
    references public.account_tool_instances (id) on delete cascade,
  at timestamptz not null,
  caller text not null check (char_length(caller) between 1 and 256),
  instance_name_on_toolbox text not null check (char_length(instance_name_on_toolbox) <= 256),
  method text not null check (method in ('tools/call', 'resources/read', 'prompts/get')),
  target text not null check (char_length(target) <= 256),
  listed boolean not null,
  args_sha256 text not null check (args_sha256 ~ '^[0-9a-f]{64}$'),
  duration_ms double precision not null check (duration_ms >= 0),
  outcome text not null check (outcome in ('ok', 'tool-error', 'protocol-error', 'refused', 'lost')),
  error_code integer,
  reason text check (char_length(reason) <= 256),
  received_at timestamptz not null default now()
);

comment on table public.dtma_mcp_audit is
  'MCP calls through DTMA agents (one row per call, mirrored by the agent): caller, instance, tool/URI/prompt, SHA-256 of the arguments (never their values), duration, outcome';

-- A user's or an instance's calls, newest first; the backend's per-toolbox reads.
create index if not exists dtma_mcp_audit_environment_at_idx on public.dtma_mcp_audit (account_tool_environment_id, at desc);
create index if not exists dtma_mcp_audit_instance_at_idx on public.dtma_mcp_audit (account_tool_instance_id, at desc);
create index if not exists dtma_mcp_audit_caller_at_idx on public.dtma_mcp_audit (caller, at desc);

alter table public.dtma_mcp_audit enable row level security;
revoke all on public.dtma_mcp_audit from anon, authenticated;
grant select on public.dtma_mcp_audit to authenticated;
grant select, insert, update, delete on public.dtma_mcp_audit to service_role;

drop policy if exists dtma_mcp_audit_service_role_all on public.dtma_mcp_audit;
create policy dtma_mcp_audit_service_role_all
  on public.dtma_mcp_audit
  for all to service_role
  using (true) with check (true);

drop policy if exists dtma_mcp_audit_owner_read on public.dtma_mcp_audit;
create policy dtma_mcp_audit_owner_read
  on public.dtma_mcp_audit
  for select to authenticated
  using (
    exists (
      select 1 from public.account_tool_environments ate
       where ate.id = dtma_mcp_audit.account_tool_environment_id
         and ate.user_id = (select auth.uid())
    )
  );

-- A batch of one toolbox's calls: every row must name an instance of that
-- toolbox (PT403 for the whole batch otherwise, an unknown instance alike);
-- a row the table refuses is PT400. Answers how many rows were new.
create or replace function public.dtma_audit_insert(p_account_tool_environment_id uuid, p_rows jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  foreign_rows integer;
  inserted integer;
begin
  if p_account_tool_environment_id is null then
    raise exception 'no toolbox' using errcode = 'PT401';
  end if;
  if jsonb_typeof(p_rows) is distinct from 'array' then
    raise exception 'the rows must be a JSON array' using errcode = 'PT400';
  end if;
  select count(*) into foreign_rows
    from jsonb_array_elements(p_rows) r
    left join public.account_tool_instances ati on ati.id::text = r ->> 'account_tool_instance_id'
   where ati.id is null or ati.account_tool_environment_id <> p_account_tool_environment_id;
  if foreign_rows > 0 then
    raise exception '% row(s) name no instance of this toolbox', foreign_rows using errcode = 'PT403';
  end if;
  insert into public.dtma_mcp_audit (
    id, account_tool_environment_id, account_tool_instance_id, at, caller, instance_name_on_toolbox, method, target,
    listed, args_sha256, duration_ms, outcome, error_code, reason)
  select r.id, p_account_tool_environment_id, r.account_tool_instance_id, r.at, r.caller, r.instance_name_on_toolbox, r.method, r.target,
    r.listed, r.args_sha256, r.duration_ms, r.outcome, r.error_code, r.reason
    from jsonb_populate_recordset(null::public.dtma_mcp_audit, p_rows) r
  on conflict (id) do nothing;
  get diagnostics inserted = row_count;
  return inserted;
exception
  when check_violation or not_null_violation or invalid_text_representation or datatype_mismatch
    or invalid_parameter_value or string_data_right_truncation or invalid_datetime_format then
    raise exception 'an audit row is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;

revoke all on function public.dtma_audit_insert(uuid, jsonb) from public, anon, authenticated;
grant execute on function public.dtma_audit_insert(uuid, jsonb) to service_role;
