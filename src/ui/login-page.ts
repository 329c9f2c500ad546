import { html, type Html } from './html.js';
import { notice } from './layout.js';

/** The login form: a plain POST with the user name and password (no JavaScript needed). */
export function loginBody(o: { next: string; error?: string; name?: string }): Html {
  return html`${o.error ? notice('error', o.error) : ''}
    <form method="post" action="/ui/login" class="login">
      <input type="hidden" name="next" value="${o.next}" />
      <p>
        <label for="name">User name</label><br /><input
          id="name"
          name="name"
          autocomplete="username"
          required
          maxlength="64"
          value="${o.name ?? ''}"
        />
      </p>
      <p>
        <label for="password">Password</label><br /><input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          maxlength="1024"
        />
      </p>
      <p><button type="submit">Log in</button></p>
    </form>
    <p class="muted">Users are created with <code>kiln user add</code>.</p>`;
}
