// Starts the Hive 2.3 metastore after creating its ACID lock tables (TXNS, HIVE_LOCKS, ...).
// DataNucleus autoCreateAll makes only the JDO tables; Iceberg's and Trino's commits take
// metastore locks, which need these too. Same JVM, since embedded Derby allows one.
//
// The thrift server is built here rather than by HiveMetaStore.main: Hive 2.3 always binds the
// wildcard address, and a laptop's metastore must listen on loopback only (-Dcoinstream.bindHost).
import java.net.InetSocketAddress;
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.IHMSHandler;
import org.apache.hadoop.hive.metastore.TSetIpAddressProcessor;
import org.apache.hadoop.hive.metastore.txn.TxnDbUtil;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TTransportFactory;

public class MetastoreMain {
    public static void main(String[] args) throws Throwable {
        if (Boolean.getBoolean("coinstream.prepTxnTables")) {
            TxnDbUtil.prepDb(new HiveConf());
        }
        int port = Integer.parseInt(args[args.length - 1]);
        String host = System.getProperty("coinstream.bindHost", "127.0.0.1");
        HiveConf conf = new HiveConf(HiveMetaStore.HMSHandler.class);
        IHMSHandler handler = HiveMetaStore.newRetryingHMSHandler(
            new HiveMetaStore.HMSHandler("coinstream local metastore", conf, false), conf);
        TServerSocket socket = new TServerSocket(new InetSocketAddress(host, port));
        TThreadPoolServer.Args server = new TThreadPoolServer.Args(socket)
            .processor(new TSetIpAddressProcessor<>(handler))
            .transportFactory(new TTransportFactory())
            .protocolFactory(new TBinaryProtocol.Factory())
            .inputProtocolFactory(new TBinaryProtocol.Factory(true, true))
            .minWorkerThreads(4)
            .maxWorkerThreads(200);
        System.err.println("metastore listening on " + host + ":" + port);
        new TThreadPoolServer(server).serve();
    }
}
