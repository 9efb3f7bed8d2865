<?php
/**
 * Removes the plugin's settings when it is deleted.
 *
 * @package LoginSvc_SSO
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

delete_option( 'loginsvc_sso_service_url' );
delete_option( 'loginsvc_sso_secret' );
delete_option( 'loginsvc_sso_next' );
delete_option( 'loginsvc_wc_webhook_secret' );
