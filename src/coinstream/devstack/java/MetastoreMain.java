// Starts the Hive 2.3 metastore after creating its ACID lock tables (TXNS, HIVE_LOCKS, ...).
// DataNucleus autoCreateAll makes only the JDO tables; Iceberg's and Trino's commits take
// metastore locks, which need these too. Same JVM, since embedded Derby allows one.
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.txn.TxnDbUtil;

public class MetastoreMain {
    public static void main(String[] args) throws Throwable {
        if (Boolean.getBoolean("coinstream.prepTxnTables")) {
            TxnDbUtil.prepDb(new HiveConf());
        }
        HiveMetaStore.main(args);
    }
}
