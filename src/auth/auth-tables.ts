import type { TableColumns } from '../store/columns.js';
import type { Role } from '../api/role.js';

/** `api_tokens` (migrations 0001, 0010): only the hash of a token is stored; `user_id` marks a login session. */
export interface ApiTokensTable {
  id: string;
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  user_id: string | null;
}

/** `users` (migration 0010): `password_hash` is an argon2id PHC string. */
export interface UsersTable {
  id: string;
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
}

/** The tables authentication owns. */
export interface AuthTables {
  api_tokens: ApiTokensTable;
  users: UsersTable;
}

/** The auth tables' columns at run time, for the schema drift test. */
export const authColumns = {
  api_tokens: {
    id: 'text',
    name: 'text',
    role: 'text',
    hash: 'text',
    created_at: 'text',
    created_by: 'text',
    expires_at: 'text null',
    revoked_at: 'text null',
    last_used_at: 'text null',
    user_id: 'text null',
  },
  users: {
    id: 'text',
    name: 'text',
    role: 'text',
    password_hash: 'text',
    created_at: 'text',
    created_by: 'text',
    disabled_at: 'text null',
  },
} as const satisfies TableColumns<AuthTables>;
