<?php
/**
 * The client for loginsvc's single sign-on API, independent of WordPress.
 *
 * Kept free of WordPress functions so that it can be tested with php-cli
 * against a running service (clients/wordpress/tests/). Calls are signed the
 * Standard Webhooks way: headers webhook-id, webhook-timestamp and
 * webhook-signature "v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>",
 * where key is the base64-decoded part of the "whsec_..." secret.
 *
 * @package LoginSvc_SSO
 */

// phpcs:disable WordPress.WP.AlternativeFunctions -- WordPress-independent on purpose.

if ( ! class_exists( 'LoginSvc_Client_Exception' ) ) {
	/**
	 * A failed call: the message is fit to show to a person.
	 */
	class LoginSvc_Client_Exception extends Exception {

		/**
		 * The service's stable error code ("invalid_signature", ...) or a local one.
		 *
		 * @var string
		 */
		public $error_code;

		/**
		 * The HTTP status, 0 when the service could not be reached.
		 *
		 * @var int
		 */
		public $status;

		/**
		 * Build the exception.
		 *
		 * @param string $message    A human message.
		 * @param string $error_code A stable code.
		 * @param int    $status     The HTTP status or 0.
		 */
		public function __construct( $message, $error_code, $status = 0 ) {
			parent::__construct( $message );
			$this->error_code = $error_code;
			$this->status     = $status;
		}
	}
}

if ( ! class_exists( 'LoginSvc_Client' ) ) {
	/**
	 * Signs and sends the two SSO calls.
	 */
	class LoginSvc_Client {

		/**
		 * Base URL of the service, without a trailing slash.
		 *
		 * @var string
		 */
		private $service_url;

		/**
		 * The shared secret, "whsec_<base64>".
		 *
		 * @var string
		 */
		private $secret;

		/**
		 * Sends one POST: function( $url, array $headers, $body, $timeout ) returning
		 * array( int $status, string $body ); throws LoginSvc_Client_Exception when
		 * the service cannot be reached.
		 *
		 * @var callable
		 */
		private $transport;

		/**
		 * Seconds to wait for the service.
		 *
		 * @var int
		 */
		private $timeout;

		/**
		 * Create a client.
		 *
		 * @param string        $service_url The service's public URL, e.g. https://account.shop.example.
		 * @param string        $secret      The WORDPRESS_SSO_SECRETS entry, "whsec_<base64>".
		 * @param callable|null $transport   How to POST; PHP streams when null.
		 * @param int           $timeout     Seconds.
		 */
		public function __construct( $service_url, $secret, $transport = null, $timeout = 8 ) {
			$this->service_url = rtrim( trim( (string) $service_url ), '/' );
			$this->secret      = trim( (string) $secret );
			$this->transport   = $transport ? $transport : array( __CLASS__, 'streams_transport' );
			$this->timeout     = (int) $timeout;
		}

		/**
		 * Whether a secret has the "whsec_<base64>" shape.
		 *
		 * @param string $secret The secret.
		 * @return bool
		 */
		public static function is_valid_secret( $secret ) {
			return null !== self::secret_key( (string) $secret );
		}

		/**
		 * The raw HMAC key of a secret, or null when it is not "whsec_<base64>".
		 *
		 * @param string $secret The secret.
		 * @return string|null
		 */
		private static function secret_key( $secret ) {
			if ( 0 !== strpos( $secret, 'whsec_' ) ) {
				return null;
			}
			// phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode -- the secret format is base64.
			$key = base64_decode( substr( $secret, 6 ), true );
			return ( false === $key || '' === $key ) ? null : $key;
		}

		/**
		 * The webhook-signature value for a body.
		 *
		 * @param string $secret    "whsec_<base64>".
		 * @param string $msg_id    The webhook-id.
		 * @param int    $timestamp Unix seconds.
		 * @param string $body      The exact bytes sent.
		 * @return string "v1,<base64>"
		 * @throws LoginSvc_Client_Exception When the secret is malformed.
		 */
		public static function sign( $secret, $msg_id, $timestamp, $body ) {
			$key = self::secret_key( (string) $secret );
			if ( null === $key ) {
				throw new LoginSvc_Client_Exception(
					'The shared secret must look like whsec_ followed by base64 text.',
					'bad_secret'
				);
			}
			$mac = hash_hmac( 'sha256', $msg_id . '.' . (int) $timestamp . '.' . $body, $key, true );
			// phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode -- part of the signature format.
			return 'v1,' . base64_encode( $mac );
		}

		/**
		 * Ask for a one-time sign-in URL for a WordPress user.
		 *
		 * @param string      $email      The user's e-mail address.
		 * @param string      $wp_user_id The WordPress user ID.
		 * @param string|null $name       Display name.
		 * @param string|null $next       Where the service should send the browser afterwards.
		 * @return array{login_url: string, expires_in: int}
		 * @throws LoginSvc_Client_Exception On any failure.
		 */
		public function request_ticket( $email, $wp_user_id, $name = null, $next = null ) {
			$payload = array(
				'email'      => (string) $email,
				'wp_user_id' => (string) $wp_user_id,
			);
			if ( null !== $name && '' !== $name ) {
				$payload['name'] = substr( (string) $name, 0, 200 );
			}
			if ( null !== $next && '' !== $next ) {
				$payload['next'] = (string) $next;
			}
			list( $status, $body ) = $this->post( '/api/v1/sso/wordpress/login', $payload );
			$data                  = json_decode( $body, true );
			if ( 200 !== $status ) {
				throw $this->failure( $status, $data );
			}
			if ( ! is_array( $data ) || ! isset( $data['login_url'] ) || ! is_string( $data['login_url'] )
				|| ! preg_match( '#^https?://#i', $data['login_url'] ) ) {
				throw new LoginSvc_Client_Exception(
					'The shop\'s sign-in service gave an answer this plugin does not understand.',
					'bad_response',
					$status
				);
			}
			return array(
				'login_url'  => $data['login_url'],
				'expires_in' => isset( $data['expires_in'] ) ? (int) $data['expires_in'] : 60,
			);
		}

		/**
		 * End every session the WordPress user has at the service.
		 *
		 * @param string $wp_user_id The WordPress user ID.
		 * @return void
		 * @throws LoginSvc_Client_Exception On any failure.
		 */
		public function logout( $wp_user_id ) {
			list( $status, $body ) = $this->post(
				'/api/v1/sso/wordpress/logout',
				array( 'wp_user_id' => (string) $wp_user_id )
			);
			if ( 204 !== $status && 200 !== $status ) {
				throw $this->failure( $status, json_decode( $body, true ) );
			}
		}

		/**
		 * Sign and send one call.
		 *
		 * @param string $path    Path under the service URL.
		 * @param array  $payload JSON payload.
		 * @return array{0: int, 1: string}
		 * @throws LoginSvc_Client_Exception On any failure.
		 */
		private function post( $path, array $payload ) {
			if ( ! preg_match( '#^https?://[^/]+#i', $this->service_url ) ) {
				throw new LoginSvc_Client_Exception(
					'The shop\'s sign-in service address is not set; see Settings, Shop sign-in.',
					'not_configured'
				);
			}
			// phpcs:ignore WordPress.WP.AlternativeFunctions.json_encode_json_encode -- WordPress-independent.
			$body      = json_encode( $payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
			$msg_id    = 'msg_' . bin2hex( random_bytes( 16 ) );
			$timestamp = time();
			$headers   = array(
				'Content-Type'      => 'application/json',
				'Accept'            => 'application/json',
				'webhook-id'        => $msg_id,
				'webhook-timestamp' => (string) $timestamp,
				'webhook-signature' => self::sign( $this->secret, $msg_id, $timestamp, (string) $body ),
			);
			return call_user_func( $this->transport, $this->service_url . $path, $headers, $body, $this->timeout );
		}

		/**
		 * An exception for a non-success answer.
		 *
		 * @param int   $status HTTP status.
		 * @param mixed $data   The decoded problem+json body, if any.
		 * @return LoginSvc_Client_Exception
		 */
		private function failure( $status, $data ) {
			$code   = ( is_array( $data ) && isset( $data['code'] ) && is_string( $data['code'] ) ) ? $data['code'] : 'http_' . $status;
			$detail = ( is_array( $data ) && isset( $data['detail'] ) && is_string( $data['detail'] ) ) ? $data['detail'] : '';
			$hints  = array(
				'invalid_signature' => 'The shared secret does not match the one the service has in WORDPRESS_SSO_SECRETS.',
				'stale_timestamp'   => 'This server\'s clock is more than five minutes off; fix its time (NTP).',
			);
			$message = isset( $hints[ $code ] ) ? $hints[ $code ] : trim( 'The shop\'s sign-in service refused the request. ' . $detail );
			return new LoginSvc_Client_Exception( $message . ' (' . $code . ')', $code, $status );
		}

		/**
		 * POST with PHP streams (no extension needed).
		 *
		 * @param string $url     Full URL.
		 * @param array  $headers Header name => value.
		 * @param string $body    Request body.
		 * @param int    $timeout Seconds.
		 * @return array{0: int, 1: string}
		 * @throws LoginSvc_Client_Exception When the service cannot be reached.
		 */
		public static function streams_transport( $url, array $headers, $body, $timeout ) {
			$lines = array();
			foreach ( $headers as $name => $value ) {
				$lines[] = $name . ': ' . $value;
			}
			$context = stream_context_create(
				array(
					'http' => array(
						'method'          => 'POST',
						'header'          => implode( "\r\n", $lines ),
						'content'         => $body,
						'timeout'         => $timeout,
						'ignore_errors'   => true, // Read problem+json bodies of 4xx/5xx answers too.
						'follow_location' => 0,
					),
				)
			);
			// phpcs:ignore WordPress.PHP.NoSilencedErrors.Discouraged -- failure is reported below.
			$answer = @file_get_contents( $url, false, $context );
			if ( false === $answer ) {
				throw new LoginSvc_Client_Exception(
					'The shop\'s sign-in service could not be reached. Please try again in a moment.',
					'unreachable'
				);
			}
			$status = 0;
			// $http_response_header is set by file_get_contents in this scope.
			$response_headers = isset( $http_response_header ) ? $http_response_header : array();
			foreach ( $response_headers as $line ) {
				if ( preg_match( '#^HTTP/\S+\s+(\d{3})#', $line, $m ) ) {
					$status = (int) $m[1]; // The last status line wins (after any 100 Continue).
				}
			}
			return array( $status, (string) $answer );
		}
	}
}
