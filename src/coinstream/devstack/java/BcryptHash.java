import at.favre.lib.crypto.bcrypt.BCrypt;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * Hashes each password line of stdin with bcrypt ($2y$, cost 10) and prints one hash per line,
 * with the bcrypt library Trino's file authenticator verifies with (its password-authenticators
 * plugin). The passwords never appear on a command line.
 */
public final class BcryptHash {
    private BcryptHash() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            System.out.println(BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(10, line.toCharArray()));
        }
    }
}
