-- What each tool may reach over the network (the deploy's `egress`, as the
-- agent enforces it): "internet", "none", or {"allow": ["host:port", ...]}.
-- Null: a row written by an agent from before the tool network policy.
alter table public.dtma_container_registry
  add column if not exists egress jsonb;

alter table public.dtma_container_registry
  drop constraint if exists dtma_container_registry_egress_shape;
alter table public.dtma_container_registry
  add constraint dtma_container_registry_egress_shape check (
    egress is null
    or egress in ('"internet"'::jsonb, '"none"'::jsonb)
    or (jsonb_typeof(egress) = 'object' and jsonb_typeof(egress -> 'allow') = 'array')
  );

comment on column public.dtma_container_registry.egress is
  'what the tool may reach: "internet", "none" or {"allow": [...]} (null: an agent from before the network policy)';
