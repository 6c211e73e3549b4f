/* The agent Trino's jvm.config loads (-agentpath:/usr/lib/trino/bin/libjvmkill.so): when the JVM
 * cannot create a thread, end the process at once (a half-dead server is worse than a restart).
 * Written for the stand-in image, after the behaviour of airlift's jvmkill. */
#include <jvmti.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void JNICALL on_exhausted(jvmtiEnv *env, JNIEnv *jni, jint flags, const void *reserved, const char *what) {
    (void)env; (void)jni; (void)reserved;
    if ((flags & JVMTI_RESOURCE_EXHAUSTED_THREADS) == 0) return;
    fprintf(stderr, "jvmkill: %s: killing the JVM\n", what ? what : "threads exhausted");
    kill(getpid(), SIGKILL);
    _exit(1);
}

JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved) {
    (void)options; (void)reserved;
    jvmtiEnv *env = NULL;
    if ((*vm)->GetEnv(vm, (void **)&env, JVMTI_VERSION) != JNI_OK) return JNI_ERR;
    jvmtiEventCallbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.ResourceExhausted = on_exhausted;
    if ((*env)->SetEventCallbacks(env, &cb, sizeof cb) != JVMTI_ERROR_NONE) return JNI_ERR;
    if ((*env)->SetEventNotificationMode(env, JVMTI_ENABLE, JVMTI_EVENT_RESOURCE_EXHAUSTED, NULL) != JVMTI_ERROR_NONE)
        return JNI_ERR;
    return JNI_OK;
}
