DROP TABLE staff_tokens;
DROP TABLE audit_events;
DROP TABLE identities;
DROP TABLE memberships;
DROP TABLE profiles;
DROP TABLE tenant_groups;
DROP TABLE tenants;
