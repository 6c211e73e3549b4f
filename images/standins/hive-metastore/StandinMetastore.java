// The stand-in metastore's launcher: the chart's hive-site.xml (PostgreSQL, the warehouse) with
// the overrides a Hive 2.3 server without schematool needs, the ACID lock tables Iceberg's and
// Trino's commits take locks in, then Hive's own HiveMetaStore main on the given port.
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
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
        HiveConf conf = new HiveConf();
        try {
            TxnDbUtil.prepDb(conf);
            System.err.println("created the ACID tables");
        } catch (SQLException e) {
            // Later starts find them; on PostgreSQL Hive's test helper stops at its first
            // Derby-only statement (COMPACTION_QUEUE), after the lock tables: the rest follows.
            System.err.println("ACID tables (Hive's helper): " + e.getMessage().lines().findFirst().orElse(""));
        }
        createRemainingTxnTables(conf);
        HiveMetaStore.main(new String[] {"-p", args[1]});
    }

    /** The tables after the lock tables, in PostgreSQL's types (bytea for Derby's bit data);
     *  lock checks read AUX_TABLE and commits WRITE_SET. Each is skipped if it exists. */
    static void createRemainingTxnTables(HiveConf conf) throws SQLException {
        String[] ddl = {
            "CREATE TABLE COMPACTION_QUEUE (CQ_ID bigint PRIMARY KEY, CQ_DATABASE varchar(128) NOT NULL,"
                + " CQ_TABLE varchar(128) NOT NULL, CQ_PARTITION varchar(767), CQ_STATE char(1) NOT NULL,"
                + " CQ_TYPE char(1) NOT NULL, CQ_TBLPROPERTIES varchar(2048), CQ_WORKER_ID varchar(128),"
                + " CQ_START bigint, CQ_RUN_AS varchar(128), CQ_HIGHEST_TXN_ID bigint, CQ_META_INFO bytea,"
                + " CQ_HADOOP_JOB_ID varchar(32))",
            "CREATE TABLE NEXT_COMPACTION_QUEUE_ID (NCQ_NEXT bigint NOT NULL)",
            "INSERT INTO NEXT_COMPACTION_QUEUE_ID SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM NEXT_COMPACTION_QUEUE_ID)",
            "CREATE TABLE COMPLETED_COMPACTIONS (CC_ID bigint PRIMARY KEY, CC_DATABASE varchar(128) NOT NULL,"
                + " CC_TABLE varchar(128) NOT NULL, CC_PARTITION varchar(767), CC_STATE char(1) NOT NULL,"
                + " CC_TYPE char(1) NOT NULL, CC_TBLPROPERTIES varchar(2048), CC_WORKER_ID varchar(128),"
                + " CC_START bigint, CC_END bigint, CC_RUN_AS varchar(128), CC_HIGHEST_TXN_ID bigint,"
                + " CC_META_INFO bytea, CC_HADOOP_JOB_ID varchar(32))",
            "CREATE TABLE AUX_TABLE (MT_KEY1 varchar(128) NOT NULL, MT_KEY2 bigint NOT NULL,"
                + " MT_COMMENT varchar(255), PRIMARY KEY(MT_KEY1, MT_KEY2))",
            "CREATE TABLE WRITE_SET (WS_DATABASE varchar(128) NOT NULL, WS_TABLE varchar(128) NOT NULL,"
                + " WS_PARTITION varchar(767), WS_TXNID bigint NOT NULL, WS_COMMIT_ID bigint NOT NULL,"
                + " WS_OPERATION_TYPE char(1) NOT NULL)",
        };
        String url = conf.getVar(HiveConf.ConfVars.METASTORECONNECTURLKEY);
        String user = conf.getVar(HiveConf.ConfVars.METASTORE_CONNECTION_USER_NAME);
        String password = conf.get(HiveConf.ConfVars.METASTOREPWD.varname);
        try (Connection db = DriverManager.getConnection(url, user, password); Statement st = db.createStatement()) {
            db.setAutoCommit(true);
            for (String sql : ddl) {
                try {
                    st.execute(sql);
                } catch (SQLException e) {
                    if (!"42P07".equals(e.getSQLState())) { // duplicate_table: made by an earlier start
                        throw e;
                    }
                }
            }
        }
    }
}
