// STUB: the addon build lands with the native-io work.
