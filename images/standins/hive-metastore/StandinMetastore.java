// The stand-in metastore's launcher: the chart's hive-site.xml (PostgreSQL, the warehouse) with
// the overrides a Hive 2.3 server without schematool needs, the ACID lock tables Iceberg's and
// Trino's commits take locks in, then Hive's own HiveMetaStore main on the given port.
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.SQLException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.txn.TxnDbUtil;

public class StandinMetastore {
    public static void main(String[] args) throws Throwable {
        Configuration site = new Configuration(false);
        site.addResource(new Path(args[0]));
        // No schematool SQL for 2.3 here: DataNucleus creates the JDO tables on first start.
        site.set("datanucleus.schema.autoCreateAll", "true");
        site.set("datanucleus.autoCreateSchema", "true");
        site.set("hive.metastore.schema.verification", "false");
        site.set("metastore.schema.verification", "false");
        // BoneCP, Hive 2.3's default pool, is not among pyspark's jars; commons-dbcp is.
        site.set("datanucleus.connectionPoolingType", "DBCP");
        site.set("hive.txn.manager", "org.apache.hadoop.hive.ql.lockmgr.DbTxnManager");
        site.set("hive.support.concurrency", "true");
        // Locks of a killed writer expire quickly instead of blocking its restart for minutes.
        site.set("hive.txn.timeout", "30");
        // The file holds the database password: a private directory of the in-memory config volume.
        File dir = new File(new File(args[0]).getParentFile(), ".standin");
        dir.mkdirs();
        Files.setPosixFilePermissions(dir.toPath(), PosixFilePermissions.fromString("rwx------"));
        File merged = new File(dir, "hive-site.xml");
        try (OutputStream out = new FileOutputStream(merged)) {
            site.writeXml(out);
        }
        HiveConf.setHiveSiteLocation(merged.toURI().toURL());
        try {
            TxnDbUtil.prepDb(new HiveConf());
            System.err.println("created the ACID lock tables");
        } catch (SQLException e) {
            // Later starts find them; on PostgreSQL the compaction tables (Derby-only DDL, after
            // the lock tables) fail, and no coinstream path compacts through the metastore.
            System.err.println("ACID tables: " + e.getMessage().lines().findFirst().orElse(""));
        }
        HiveMetaStore.main(new String[] {"-p", args[1]});
    }
}
