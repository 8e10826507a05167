-- The certificate a DTMA agent serves HTTPS with, as its heartbeat reports it
-- (public: a certificate and its SHA-256 fingerprint, never the key). Our
-- edge functions pin it: they call https://<ip>:<port> trusting this
-- certificate alone, and refuse an agent that presents another one. A row
-- without one (an agent of an earlier build) is called as before, in plain
-- HTTP with the fleet key. Idempotent, like the other DTMA migrations.

alter table public.account_tool_environments
  add column if not exists dtma_tls_fingerprint_sha256 text
    check (dtma_tls_fingerprint_sha256 ~ '^([0-9A-F]{2}:){31}[0-9A-F]{2}$'),
  add column if not exists dtma_tls_certificate_pem text
    check (dtma_tls_certificate_pem like '-----BEGIN CERTIFICATE-----%' and length(dtma_tls_certificate_pem) <= 16384);

comment on column public.account_tool_environments.dtma_tls_fingerprint_sha256 is
  'SHA-256 of the certificate the DTMA agent serves (as openssl prints it), from its last heartbeat';
comment on column public.account_tool_environments.dtma_tls_certificate_pem is
  'The PEM certificate the DTMA agent serves, from its last heartbeat: the edge functions trust it alone when they call the agent';
