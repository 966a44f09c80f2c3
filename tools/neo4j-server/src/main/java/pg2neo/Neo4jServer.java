package pg2neo;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs a real Neo4j Community server in this JVM for pg2neo's tests, benchmarks and demo.
 *
 * Usage: Neo4jServer PORT HOME [--tls-dir DIR] [--pagecache SIZE]
 * The password is read from the environment variable NEO4J_PASSWORD (never argv, so it does not
 * show in ps). Bolt listens on 127.0.0.1:PORT only; HTTP is off; auth is on.
 * With --tls-dir, DIR must hold private.key and public.crt, and Bolt accepts TLS (optional level).
 * Prints "READY bolt://127.0.0.1:PORT" once the Bolt port accepts connections.
 */
public final class Neo4jServer {
    private Neo4jServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Neo4jServer PORT HOME [--tls-dir DIR] [--pagecache SIZE]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        Path home = Path.of(args[1]).toAbsolutePath();
        String tlsDir = null;
        String pagecache = "64m";
        for (int i = 2; i < args.length; i++) {
            if (args[i].equals("--tls-dir") && i + 1 < args.length) {
                tlsDir = args[++i];
            } else if (args[i].equals("--pagecache") && i + 1 < args.length) {
                pagecache = args[++i];
            } else {
                System.err.println("neo4j-server: unknown argument \"" + args[i] + "\"");
                System.exit(2);
            }
        }
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("neo4j-server: NEO4J_PASSWORD must be set, at least 8 characters");
            System.exit(2);
        }
        Files.createDirectories(home);

        Map<String, String> cfg = new HashMap<>();
        cfg.put("server.bolt.enabled", "true");
        cfg.put("server.bolt.listen_address", "127.0.0.1:" + port);
        cfg.put("server.bolt.advertised_address", "127.0.0.1:" + port);
        cfg.put("server.http.enabled", "false");
        cfg.put("server.https.enabled", "false");
        cfg.put("dbms.security.auth_enabled", "true");
        cfg.put("server.memory.pagecache.size", pagecache);
        cfg.put("dbms.usage_report.enabled", "false");
        cfg.put("server.directories.logs", home.resolve("logs").toString());
        cfg.put("db.tx_log.rotation.retention_policy", "2 files");
        if (tlsDir != null) {
            cfg.put("server.bolt.tls_level", "OPTIONAL");
            cfg.put("dbms.ssl.policy.bolt.enabled", "true");
            cfg.put("dbms.ssl.policy.bolt.base_directory", Path.of(tlsDir).toAbsolutePath().toString());
            cfg.put("dbms.ssl.policy.bolt.private_key", "private.key");
            cfg.put("dbms.ssl.policy.bolt.public_certificate", "public.crt");
            cfg.put("dbms.ssl.policy.bolt.client_auth", "NONE");
        }

        long t0 = System.nanoTime();
        // The builder takes raw settings through a properties file, as neo4j.conf would.
        StringBuilder conf = new StringBuilder();
        for (Map.Entry<String, String> e : cfg.entrySet()) {
            conf.append(e.getKey()).append('=').append(e.getValue()).append('\n');
        }
        Path confFile = home.resolve("pg2neo-neo4j.conf");
        Files.writeString(confFile, conf.toString());
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(confFile)
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown, "neo4j-shutdown"));

        // Set the neo4j user's password so that no first-login change is required.
        // On a restart with the same password Neo4j refuses "the same password"; that is fine.
        try {
            dbms.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (RuntimeException e) {
            String m = String.valueOf(e.getMessage());
            if (!m.contains("same")) {
                System.err.println("neo4j-server: could not set the password: " + m);
                dbms.shutdown();
                System.exit(1);
            }
        }

        waitForPort(port);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("READY bolt://127.0.0.1:" + port + " started_ms=" + ms);
        System.out.flush();
        Thread.currentThread().join();
    }

    private static void waitForPort(int port) throws InterruptedException {
        for (int i = 0; i < 600; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(100);
            }
        }
        System.err.println("neo4j-server: Bolt port " + port + " did not open");
        System.exit(1);
    }
}
